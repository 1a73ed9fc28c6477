"""Integration: spindle-fleet against spindle-bare-coap-server over loopback, plain UDP and
DTLS-PSK, and against a port nobody listens on. Asserts on the exit status and on the JSON
report: every device registered, every telemetry request acknowledged, latencies present;
or, with no gateway, every device failed within the run's time bound."""
import argparse
import http.server
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "integration"))
import node_harness as h  # noqa: E402  (free_udp_port)

FLEET = SERVER = None


class BareServer:
    """spindle-bare-coap-server on a free loopback port, ready once it says so."""

    def __init__(self, *extra):
        self.port = h.free_udp_port()
        self.process = subprocess.Popen([SERVER, "--port", str(self.port), *extra],
                                        stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        if "listening" not in line:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"server did not start: {line!r}")

    def stop(self):
        """SIGTERM; returns (exit status, what it printed on the way out)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        output, _ = self.process.communicate(timeout=10)
        return self.process.returncode, output


class ProvisioningApi:
    """A stand-in for the gateway's operator API: POST /api/v1/devices with a bearer token
    answers every device with the same PSK (the bare server knows only one)."""

    def __init__(self, token, psk_hex):
        self.chunks = []
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.path != "/api/v1/devices" or \
                        self.headers.get("Authorization") != f"Bearer {token}":
                    self.send_response(401)
                    self.end_headers()
                    return
                ids = [d["id"] for d in json.loads(body)["devices"]]
                api.chunks.append(len(ids))
                answer = json.dumps({"devices": [
                    {"id": i, "psk": psk_hex, "model_kek": "00" * 16,
                     "attestation_key": "00" * 32} for i in ids]}).encode()
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Fleet(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.servers = []

    def tearDown(self):
        for server in self.servers:
            if server.process.poll() is None:
                server.process.kill()
            server.process.wait()
            server.process.stdout.close()
        self.dir.cleanup()

    def server(self, *extra):
        server = BareServer(*extra)
        self.servers.append(server)
        return server

    def path(self, name):
        return os.path.join(self.dir.name, name)

    def master_secret_file(self):
        path = self.path("master.hex")
        with open(path, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
        return path

    def fleet(self, gateway, *extra, timeout=60):
        """Runs spindle-fleet; returns (exit status, report or None, output, seconds)."""
        report_path = self.path("report.json")
        if os.path.exists(report_path):
            os.remove(report_path)
        started = time.monotonic()
        run = subprocess.run([FLEET, "--gateway", gateway, "--json", report_path, *extra],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             timeout=timeout)
        elapsed = time.monotonic() - started
        report = None
        if os.path.exists(report_path):
            with open(report_path) as f:
                report = json.load(f)
        return run.returncode, report, run.stdout, elapsed

    def assert_clean_run(self, report, devices, output):
        self.assertEqual(report["devices"]["total"], devices, output)
        self.assertEqual(report["devices"]["registered"], devices, output)
        self.assertEqual(report["devices"]["failed"], 0, output)
        self.assertTrue(report["success"], output)
        telemetry = report["requests"]["telemetry"]
        self.assertGreater(telemetry["sent"], 0, output)
        self.assertEqual(telemetry["acknowledged"], telemetry["sent"], output)
        self.assertEqual(telemetry["errored"], 0, output)
        self.assertEqual(telemetry["timed_out"], 0, output)
        self.assertGreater(report["telemetry"]["requests_per_second"], 0, output)
        for kind in ("register", "telemetry"):
            latency = report["requests"][kind]["latency_ms"]
            self.assertIsNotNone(latency, f"{kind} latencies missing\n{output}")
            self.assertEqual(latency["count"], report["requests"][kind]["acknowledged"])
            self.assertLessEqual(latency["p50"], latency["p90"])
            self.assertLessEqual(latency["p90"], latency["p99"])
            self.assertLessEqual(latency["p99"], latency["max"])
            self.assertGreater(latency["max"], 0)
        register = report["requests"]["register"]
        self.assertEqual(register["sent"], devices)
        self.assertEqual(register["acknowledged"], devices)
        return telemetry

    def test_plain_udp_fleet_registers_observes_refreshes_and_posts(self):
        server = self.server()
        status, report, output, _ = self.fleet(
            f"coap://127.0.0.1:{server.port}", "--devices", "50", "--rate", "200",
            "--duration", "2", "--readings-per-post", "3", "--observe", "--lifetime", "2")
        self.assertEqual(status, 0, output)
        telemetry = self.assert_clean_run(report, 50, output)
        # Paced at --rate, give or take the pacer's start-up burst.
        self.assertGreater(telemetry["sent"], 300, output)
        self.assertLess(telemetry["sent"], 450, output)
        self.assertEqual(report["telemetry"]["readings_sent"], 3 * telemetry["sent"])
        self.assertEqual(report["observe"]["responses"], 50, output)
        self.assertEqual(report["requests"]["observe"]["acknowledged"], 50, output)
        # --lifetime 2: every device refreshes every 1.5 s.
        refresh = report["requests"]["refresh"]
        self.assertGreaterEqual(refresh["sent"], 50, output)
        self.assertEqual(refresh["acknowledged"], refresh["sent"], output)
        code, printed = server.stop()
        self.assertEqual(code, 0)
        self.assertIn(f"{telemetry['sent']} telemetry posts", printed)

    def test_dtls_fleet_with_derived_keys(self):
        secret = self.master_secret_file()
        server = self.server("--dtls", "--master-secret-file", secret)
        status, report, output, _ = self.fleet(
            f"coaps://127.0.0.1:{server.port}", "--devices", "20", "--rate", "100",
            "--duration", "2", "--master-secret-file", secret)
        self.assertEqual(status, 0, output)
        self.assert_clean_run(report, 20, output)

    def test_dtls_fleet_with_wrong_keys_fails(self):
        server = self.server("--dtls", "--master-secret-file", self.master_secret_file())
        status, report, output, elapsed = self.fleet(
            f"coaps://127.0.0.1:{server.port}", "--devices", "5", "--duration", "1",
            "--register-timeout", "2", "--psk-hex", secrets.token_hex(16))
        self.assertEqual(status, 1, output)
        self.assertEqual(report["devices"]["registered"], 0, output)
        self.assertEqual(report["devices"]["failed"], 5, output)
        self.assertLess(elapsed, 15, output)

    def test_provisioned_keys_in_chunks(self):
        psk = secrets.token_hex(16)
        api = ProvisioningApi("s3cret-token", psk)
        self.addCleanup(api.stop)
        token_file = self.path("token")
        with open(token_file, "w") as f:
            f.write("s3cret-token\n")
        server = self.server("--dtls", "--psk-hex", psk)
        status, report, output, _ = self.fleet(
            f"coaps://127.0.0.1:{server.port}", "--devices", "510", "--rate", "200",
            "--duration", "1", "--connect-rate", "1000", "--provision-api", api.url,
            "--token-file", token_file)
        self.assertEqual(status, 0, output)
        self.assertEqual(api.chunks, [500, 10])
        self.assert_clean_run(report, 510, output)

    def test_provisioning_refused_is_reported(self):
        api = ProvisioningApi("right-token", secrets.token_hex(16))
        self.addCleanup(api.stop)
        token_file = self.path("token")
        with open(token_file, "w") as f:
            f.write("wrong-token")
        status, report, output, _ = self.fleet(
            "coaps://127.0.0.1:9", "--devices", "3", "--provision-api", api.url,
            "--token-file", token_file)
        self.assertEqual(status, 1, output)
        self.assertIsNone(report)
        self.assertIn("answered 401", output)

    def test_no_gateway_fails_every_device_within_the_bound(self):
        port = h.free_udp_port()  # nothing listens here
        status, report, output, elapsed = self.fleet(
            f"coap://127.0.0.1:{port}", "--devices", "10", "--duration", "1",
            "--register-timeout", "2", "--request-timeout", "3")
        self.assertEqual(status, 1, output)
        self.assertEqual(report["devices"]["registered"], 0, output)
        self.assertEqual(report["devices"]["failed"], 10, output)
        self.assertEqual(report["exit_code"], 1)
        self.assertFalse(report["success"])
        self.assertEqual(report["requests"]["telemetry"]["sent"], 0)
        self.assertIsNone(report["requests"]["register"]["latency_ms"])
        # Bound: register timeout + duration + request timeout (+ margin); with nobody
        # registered there is no telemetry phase, so the registration timeout ends it.
        self.assertLess(elapsed, 2 + 1 + 3 + 2, output)
        self.assertIn("FAILED", output)

    def test_usage_errors_name_the_flag(self):
        for args, flag in ((["--rate", "0"], "--rate"),
                           (["--devices", "0"], "--devices"),
                           (["--readings-per-post", "1000"], "--readings-per-post"),
                           (["--id-prefix", "bad/prefix-"], "--id-prefix"),
                           (["--gateway", "coaps://127.0.0.1:5684"], "--psk-hex")):
            run = subprocess.run([FLEET, *args], stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True, timeout=10)
            self.assertEqual(run.returncode, 2, run.stdout)
            self.assertIn(flag, run.stdout)
            self.assertTrue(run.stdout.startswith("spindle-fleet: "), run.stdout)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--fleet", required=True)
    parser.add_argument("--server", required=True)
    args, rest = parser.parse_known_args()
    FLEET, SERVER = args.fleet, args.server
    unittest.main(argv=[sys.argv[0]] + rest)
