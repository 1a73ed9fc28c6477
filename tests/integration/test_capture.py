"""Data capture end to end (docs/protocol.md "Data capture"): a real spindle-gateway and real
spindle-node processes; spindlectl asks for windows of features and raw samples, waits,
exports them, and the raw export is replayed by another node. Also over a lossy link
(spindle-linkemu) and over DTLS."""
import argparse
import csv
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest

import node_harness as h
from gateway_harness import Gateway, write_psk_file

GATEWAY = NODE = CTL = LINKEMU = None
FEATURES = 45  # 3 axes x 15 (native_sim)
WINDOW = 1024  # CONFIG_SENSOR_WINDOW_LENGTH of native_sim
AXES = 3


class CaptureTest(unittest.TestCase):
    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="spindle-capture-")
        self.processes = []
        self.relays = []
        self.gateway = None

    def tearDown(self):
        for process in self.processes:
            h.stop_process(process)
        for relay in self.relays:
            relay.stop()
        if self.gateway:
            self.gateway.stop()
        if hasattr(self, "_outcome") and all(e is None for _, e in
                                              getattr(self._outcome, "errors", [])):
            shutil.rmtree(self.workdir, ignore_errors=True)

    # ---- helpers ----

    def start_gateway(self, insecure=True):
        self.gateway = Gateway(GATEWAY, self.workdir, insecure=insecure)
        self.gateway.start()
        return self.gateway

    def start_node(self, device, uri, *extra):
        log = open(os.path.join(self.workdir, device + ".log"), "a")
        args = [NODE, "--id", device, "--gateway", uri,
                "--flash", os.path.join(self.workdir, device + ".flash"), "--lifetime", "60",
                *extra]
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.processes.append(process)
        return process

    def ctl(self, *args, timeout=90):
        api = ["--api", f"http://127.0.0.1:{self.gateway.http_port}",
               "--token-file", os.path.join(self.gateway.data_dir, "api-token")]
        result = subprocess.run([CTL, *args, *api], capture_output=True, text=True,
                                timeout=timeout)
        return result

    def capture(self, device, windows, kind, label, timeout=60):
        result = self.ctl("capture", device, "--windows", str(windows), "--kind", kind,
                          "--label", label, "--wait", "--timeout", str(timeout),
                          timeout=timeout + 30)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr +
                         self.node_logs())
        listed = self.gateway.api("GET", f"/api/v1/captures?device={device}", expect=200)
        return listed["captures"][0]

    def export(self, capture_id, fmt, name):
        path = os.path.join(self.workdir, name)
        result = self.ctl("datasets", "export", str(capture_id), "--format", fmt, "-o", path)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        return path

    def node_logs(self):
        text = ""
        for name in sorted(os.listdir(self.workdir)):
            if name.endswith(".log"):
                with open(os.path.join(self.workdir, name), errors="replace") as f:
                    text += f"\n--- {name}\n" + f.read()[-4000:]
        return text

    def check_features_csv(self, path, device, label, windows):
        with open(path) as f:
            rows = list(csv.reader(f))
        header = rows[0]
        self.assertEqual(header[:3], ["window", "device", "label"])
        self.assertEqual(len(header), 3 + FEATURES)
        self.assertEqual(header[3], "x_rms")
        self.assertEqual(header[-1], "z_band7")
        body = rows[1:]
        # Exactly the requested windows, each once.
        self.assertEqual(sorted(int(r[0]) for r in body), list(range(windows)))
        for row in body:
            self.assertEqual(row[1:3], [device, label])
            self.assertEqual(len(row), 3 + FEATURES)
            self.assertTrue(all(math.isfinite(float(v)) for v in row[3:]), row)
        # A vibrating machine: the x axis' RMS is not zero.
        self.assertTrue(all(float(r[3]) > 0 for r in body))

    def check_raw_exports(self, capture_id, windows):
        csv_path = self.export(capture_id, "csv", f"capture-{capture_id}.csv")
        with open(csv_path) as f:
            lines = [line for line in f.read().splitlines() if not line.startswith("#")]
        self.assertEqual(lines[0], "t,x,y,z")
        rows = [[float(v) for v in line.split(",")] for line in lines[1:]]
        self.assertEqual(len(rows), windows * WINDOW)
        self.assertTrue(all(len(r) == 4 and all(math.isfinite(v) for v in r) for r in rows))
        self.assertAlmostEqual(rows[-1][0], (windows * WINDOW - 1) / 3200.0, places=6)
        wav_path = self.export(capture_id, "raw", f"capture-{capture_id}.wav")
        with open(wav_path, "rb") as f:
            wav = f.read()
        self.assertEqual(wav[:4], b"RIFF")
        fmt, channels, rate = struct.unpack_from("<HHI", wav, 20)
        self.assertEqual((fmt, channels, rate), (3, AXES, 3200))
        self.assertEqual(struct.unpack_from("<I", wav, 40)[0], windows * WINDOW * AXES * 4)
        samples = struct.unpack_from(f"<{windows * WINDOW * AXES}f", wav, 44)
        # The WAV and the CSV carry the same float32 samples.
        as_float32 = [struct.unpack("<f", struct.pack("<f", v))[0] for r in rows[:2] for v in r[1:]]
        self.assertEqual(list(samples[:6]), as_float32)
        return csv_path, wav_path

    def replay(self, device, path, windows):
        self.gateway.provision(device)
        node = self.start_node(device, self.gateway.coap_uri, "--sensor", f"replay:{path}",
                               "--windows", str(windows), "--exit-when-sent", "--speed", "0")
        node.wait(timeout=60)
        self.assertEqual(node.returncode, 0, self.node_logs())
        h.wait_for(lambda: len(self.gateway.telemetry(device, "latency")) >= windows, 20,
                   f"{device}'s readings")

    # ---- tests ----

    def test_features_and_raw_windows_are_captured_exported_and_replayed(self):
        gateway = self.start_gateway()
        gateway.provision("cap-1")
        self.start_node("cap-1", gateway.coap_uri, "--speed", "4")
        features = self.capture("cap-1", 50, "features", "healthy")
        self.assertEqual(features["state"], "complete")
        self.assertEqual(features["windows_received"], 50)
        self.assertEqual(features["shape"], {"board": "native_sim", "sample_rate_hz": 3200,
                                             "window_length": WINDOW, "axes": AXES,
                                             "feature_count": FEATURES})
        path = self.export(features["id"], "csv", "features.csv")
        self.check_features_csv(path, "cap-1", "healthy", 50)

        raw = self.capture("cap-1", 2, "raw", "imbalance-0.4")
        self.assertEqual((raw["state"], raw["windows_received"], raw["chunks_received"]),
                         ("complete", 2, 2))
        csv_path, wav_path = self.check_raw_exports(raw["id"], 2)
        # A features data set has no raw form.
        status, answer = gateway.request("GET", f"/api/v1/captures/{features['id']}/data?format=raw")
        self.assertEqual(status, 400, answer)

        listed = self.ctl("datasets")
        self.assertEqual(listed.returncode, 0, listed.stderr)
        self.assertIn("imbalance-0.4", listed.stdout)
        self.assertEqual(gateway.metric("spindle_captures_completed_total"), 2)
        self.assertGreaterEqual(
            gateway.metric("spindle_capture_chunks_total", 'result="stored"'), 3)

        # The raw export is a recording the node's simulator plays back.
        self.replay("replay-wav", wav_path, 2)
        self.replay("replay-csv", csv_path, 2)

    def test_a_lossy_link_still_yields_exactly_the_requested_windows(self):
        gateway = self.start_gateway()
        gateway.provision("lossy-1")
        relay = h.Relay(LINKEMU, gateway.coap_port, "--loss", "0.1", "--duplicate", "0.05",
                        "--seed", "7")
        self.relays.append(relay)
        self.start_node("lossy-1", f"coap://127.0.0.1:{relay.port}", "--speed", "4")
        features = self.capture("lossy-1", 30, "features", "lossy", timeout=60)
        self.assertEqual(features["windows_received"], 30)
        path = self.export(features["id"], "csv", "lossy.csv")
        self.check_features_csv(path, "lossy-1", "lossy", 30)  # each window exactly once
        raw = self.capture("lossy-1", 2, "raw", "lossy-raw", timeout=60)
        self.assertEqual((raw["windows_received"], raw["chunks_received"]), (2, 2))
        self.check_raw_exports(raw["id"], 2)

    def test_a_capture_over_dtls(self):
        gateway = self.start_gateway(insecure=False)
        keys = gateway.provision("secure-1")["secure-1"]
        psk = write_psk_file(self.workdir, "secure-1", keys)
        self.start_node("secure-1", gateway.coap_uri, "--psk-file", psk, "--speed", "4")
        features = self.capture("secure-1", 10, "features", "dtls")
        self.assertEqual(features["windows_received"], 10)
        self.check_features_csv(self.export(features["id"], "csv", "dtls.csv"), "secure-1",
                                "dtls", 10)

    def test_requests_the_gateway_cannot_take_are_refused_with_a_reason(self):
        gateway = self.start_gateway()
        gateway.provision("busy-1")
        status, answer = gateway.request("POST", "/api/v1/devices/busy-1/captures",
                                         {"windows": 0, "kind": "features"})
        self.assertEqual(status, 400, answer)
        status, answer = gateway.request("POST", "/api/v1/devices/busy-1/captures",
                                         {"windows": 5, "kind": "wav"})
        self.assertEqual(status, 400, answer)
        status, first = gateway.request("POST", "/api/v1/devices/busy-1/captures",
                                        {"windows": 5, "kind": "raw", "label": "a"})
        self.assertEqual(status, 201, first)
        status, answer = gateway.request("POST", "/api/v1/devices/busy-1/captures",
                                         {"windows": 5, "kind": "raw"})
        self.assertEqual(status, 409, answer)
        self.assertIn(f"capture {first['id']}", answer["error"])
        result = self.ctl("capture", "nobody", "--windows", "3")
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertIn("not provisioned", result.stderr)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--node", required=True)
    parser.add_argument("--ctl", required=True)
    parser.add_argument("--linkemu", required=True)
    args, rest = parser.parse_known_args()
    GATEWAY, NODE, CTL, LINKEMU = args.gateway, args.node, args.ctl, args.linkemu
    unittest.main(argv=[sys.argv[0]] + rest)
