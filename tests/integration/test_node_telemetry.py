"""Integration: the real spindle-node against a libcoap test server over loopback —
registration and refresh, telemetry content, an outage with every reading delivered once
afterwards, a reboot resuming from flash, and DTLS-PSK."""
import argparse
import os
import subprocess
import sys
import tempfile
import time
import unittest

import node_harness as h

NODE = SERVER = MAKE_MODEL = BOARDS = None


class NodeTelemetry(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.log = os.path.join(self.dir.name, "events.jsonl")
        self.port = h.free_udp_port()
        self.servers = []
        self.nodes = []

    def tearDown(self):
        for node in self.nodes:
            if node.poll() is None:
                node.kill()
                node.wait()
        for server in self.servers:
            server.stop()
        self.dir.cleanup()

    def server(self, **psk):
        s = h.Server(SERVER, self.port, self.log, **psk)
        self.servers.append(s)
        s.start()
        return s

    def node(self, device_id, *extra, scheme="coap"):
        n = h.start_node(NODE, device_id, f"{scheme}://127.0.0.1:{self.port}", self.dir.name,
                         *extra)
        self.nodes.append(n)
        return n

    def finish(self, node, timeout=90):
        output, _ = node.communicate(timeout=timeout)
        return node.returncode, output

    def assert_every_window_once(self, device, windows):
        latency = [r for r in h.readings(self.log, "latency") if r["device"] == device]
        seqs = sorted(r["seq"] for r in latency)
        every = sorted({r["seq"] for r in h.readings(self.log) if r["device"] == device})
        missing = sorted(set(range(1, max(every, default=0) + 1)) - set(every))
        self.assertEqual(len(seqs), windows,
                         f"one latency record per window; missing seqs {missing}")
        self.assertEqual(len(set(seqs)), windows, "no window delivered twice")
        self.assertEqual(every, list(range(1, len(every) + 1)), "sequence numbers without gaps")
        return latency

    def resent_records(self):
        """Records the server received again (it de-duplicates them before logging)."""
        return sum(e["duplicates"] for e in h.events(self.log) if e["event"] == "batch")

    def test_registers_refreshes_and_reports_each_window(self):
        self.server()
        node = self.node("pump-1", "--windows", "40", "--speed", "4", "--lifetime", "3",
                         "--exit-when-sent")
        code, output = self.finish(node)
        self.assertEqual(code, 0, output)
        self.assertEqual(self.resent_records(), 0)
        registrations = [e for e in h.events(self.log) if e["event"] == "register"]
        self.assertEqual(len(registrations), 1)
        self.assertEqual(registrations[0]["ep"], "pump-1")
        self.assertEqual(registrations[0]["board"], "native_sim")
        self.assertEqual(registrations[0]["lt"], "3")
        # 40 windows of 1024 samples at 3200 Hz, 4x real time: 3.2 s; refresh at 2.25 s.
        self.assertGreaterEqual(len([e for e in h.events(self.log) if e["event"] == "refresh"]), 1)
        latency = self.assert_every_window_once("pump-1", 40)
        names = {r["name"] for r in h.readings(self.log)}
        for name in ("latency", "uptime", "reboots", "dl_retries", "ring_dropped",
                     "feature_windows", "feature_stats"):
            self.assertIn(name, names)
        self.assertNotIn("score", names, "no model, no score")
        # Readings are timestamped in window order, 0.32 s of sensor time apart.
        times = [r["time"] for r in sorted(latency, key=lambda r: r["seq"])]
        self.assertEqual(times, sorted(times))

    def test_outage_readings_arrive_afterwards_exactly_once(self):
        server = self.server()
        node = self.node("fan-7", "--windows", "60", "--speed", "5", "--exit-when-sent",
                         "--drain-timeout", "60")
        h.wait_for(lambda: len(h.readings(self.log, "latency")) >= 5, 30, "first readings")
        server.stop()
        outage_start = time.time()
        # Longer than the node's CoAP retransmission span (10.5 s), so its requests fail
        # and it keeps sampling into its flash ring meanwhile.
        time.sleep(12)
        during = len(h.readings(self.log, "latency"))
        server.start()
        code, output = self.finish(node)
        self.assertEqual(code, 0, output)
        latency = self.assert_every_window_once("fan-7", 60)
        self.assertLess(during, 60)
        made_during_outage = [r for r in latency if outage_start <= r["time"] <= outage_start + 12]
        self.assertGreater(len(made_during_outage), 5, "readings from the outage were delivered")
        self.assertIn("gateway unreachable", output)
        self.assertEqual(self.resent_records(), 0, "no batch crossed the outage twice")

    def test_a_killed_node_loses_no_reading(self):
        self.server()
        first = self.node("drill-9", "--speed", "6")
        h.wait_for(lambda: len(h.readings(self.log, "latency")) >= 10, 30, "first readings")
        first.kill()  # SIGKILL: no shutdown code runs
        first.wait()
        second = self.node("drill-9", "--windows", "5", "--speed", "0", "--exit-when-sent")
        code, output = self.finish(second)
        self.assertEqual(code, 0, output)
        every = sorted({r["seq"] for r in h.readings(self.log) if r["device"] == "drill-9"})
        self.assertEqual(every, list(range(1, len(every) + 1)), "nothing lost across the kill")
        # Only a batch in flight at the kill can arrive twice (at most 8 readings).
        self.assertLessEqual(self.resent_records(), 8 * 8)
        self.assertEqual(h.readings(self.log, "reboots")[-1]["value"], 1)

    def test_sigterm_stops_a_node_promptly_even_while_it_waits_for_the_gateway(self):
        node = self.node("saw-1", "--speed", "4")  # nobody listens on the port
        time.sleep(2)  # a request is now waiting out libcoap's retransmissions
        node.terminate()
        started = time.monotonic()
        code, output = self.finish(node, timeout=30)
        self.assertLess(time.monotonic() - started, 3, output)
        self.assertEqual(code, 0, output)
        self.assertIn("unsent readings kept in flash", output)

    def test_reboot_sends_what_was_stored_while_offline(self):
        # First boot: no gateway at all; readings stay in flash.
        first = self.node("mill-2", "--windows", "8", "--speed", "0", "--exit-when-sent",
                          "--drain-timeout", "2")
        code, output = self.finish(first)
        self.assertEqual(code, 1, output)
        self.assertIn("8 unsent readings kept in flash", output)
        # Second boot, gateway up: the stored readings go first, numbering continues.
        self.server()
        second = self.node("mill-2", "--windows", "4", "--speed", "0", "--exit-when-sent")
        code, output = self.finish(second)
        self.assertEqual(code, 0, output)
        self.assertIn("8 unsent readings in flash, next seq 9", output)
        self.assert_every_window_once("mill-2", 12)
        reboots = {r["seq"]: r["value"] for r in h.readings(self.log, "reboots")}
        self.assertEqual(reboots[1], 0)
        self.assertEqual(reboots[12], 1)

    def test_dtls_psk_delivers_and_an_unknown_identity_is_refused(self):
        key = "00112233445566778899aabbccddeeff"
        self.server(psk_identity="valve-3", psk_hex=key)
        psk_file = os.path.join(self.dir.name, "valve-3.psk")
        with open(psk_file, "w") as f:
            f.write(key)
        node = self.node("valve-3", "--psk-file", psk_file, "--windows", "5", "--speed", "0",
                         "--exit-when-sent", scheme="coaps")
        code, output = self.finish(node)
        self.assertEqual(code, 0, output)
        self.assert_every_window_once("valve-3", 5)
        intruder = self.node("valve-4", "--psk-file", psk_file, "--windows", "2", "--speed", "0",
                             "--exit-when-sent", "--drain-timeout", "3", scheme="coaps")
        code, output = self.finish(intruder)
        self.assertEqual(code, 1, output)
        self.assertTrue(any(e["event"] == "psk_refused" and e["identity"] == "valve-4"
                            for e in h.events(self.log)))
        self.assertEqual(h.readings(self.log, "latency"),
                         [r for r in h.readings(self.log, "latency") if r["device"] == "valve-3"])

    def make_model(self):
        path = os.path.join(self.dir.name, "model.bin")
        result = subprocess.run([MAKE_MODEL, "--layers", "45,16,8,16,45", "--seed", "3",
                                 "--out", path], capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)
        return path

    def test_a_loaded_model_scores_every_window(self):
        self.server()
        model = self.make_model()
        node = self.node("press-5", "--model", model, "--model-id", "ae-test", "--threshold",
                         "1000", "--windows", "12", "--speed", "0", "--exit-when-sent")
        code, output = self.finish(node)
        self.assertEqual(code, 0, output)
        self.assertIn("model loaded: 45 features", output)
        scores = h.readings(self.log, "score")
        self.assertEqual(len(scores), 12)
        self.assertTrue(all(r["value"] >= 0 for r in scores))
        self.assertTrue(all(r["value"] is False for r in h.readings(self.log, "anomaly")))
        self.assertTrue(all(r["value"] > 0 for r in h.readings(self.log, "arena_hwm")))

    def test_a_board_budget_too_small_for_the_model_is_refused_with_the_sizes(self):
        model = self.make_model()
        tiny = os.path.join(self.dir.name, "tiny.conf")
        with open(os.path.join(BOARDS, "nucleo_l476rg", "board.conf")) as f:
            conf = f.read()
        conf = conf.replace('CONFIG_BOARD="nucleo_l476rg"', 'CONFIG_BOARD="tiny"')
        conf = conf.replace("CONFIG_MODEL_ARENA_SIZE=8192", "CONFIG_MODEL_ARENA_SIZE=1024")
        # A shadow never gets more than the active model (the board parser's rule).
        conf = conf.replace("CONFIG_SHADOW_ARENA_SIZE=4096", "CONFIG_SHADOW_ARENA_SIZE=512")
        with open(tiny, "w") as f:
            f.write(conf)
        node = self.node("press-6", "--board", tiny, "--model", model, "--windows", "1",
                         "--speed", "0")
        code, output = self.finish(node)
        self.assertEqual(code, 1, output)
        self.assertRegex(output, r"model refused: does-not-fit \(needs \d+ arena bytes, "
                                 r"board tiny gives 1024\)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--node", required=True)
    parser.add_argument("--server", required=True)
    parser.add_argument("--make-model", required=True)
    parser.add_argument("--boards", required=True)
    args, rest = parser.parse_known_args()
    NODE, SERVER, MAKE_MODEL, BOARDS = args.node, args.server, args.make_model, args.boards
    unittest.main(argv=[sys.argv[0]] + rest)
