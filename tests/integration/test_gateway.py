"""Integration: the real spindle-gateway with real spindle-node processes and Debian's
libcoap command-line client — registration, refresh and expiry, telemetry through the HTTP
API, access control between devices, refused identities, bad payloads, kill -9 with every
acknowledged reading kept exactly once, attestation challenges and verdicts, install
reports in the deployment view, and interoperability with an implementation nobody here
wrote."""
import argparse
import hashlib
import hmac
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import unittest

import cbor2

import gateway_harness as g
import node_harness as h

GATEWAY = NODE = PROTO = COAP_CLIENT = None
VECTORS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "protocol",
                       "vectors")
KID = "spindle-it-2026"


def nul_free_devices(gateway, prefix, count):
    """Provisions devices whose PSK has no zero byte: coap-client takes its key as a
    command-line string, which cannot hold one (the gateway's keys are binary)."""
    found, n = {}, 0
    while len(found) < count:
        batch = [f"{prefix}{n + i}" for i in range(8)]
        n += 8
        for device, keys in gateway.provision(*batch).items():
            if 0 not in bytes.fromhex(keys["psk"]) and len(found) < count:
                found[device] = keys
    return found


# A 2.xx answer as coap-client prints it with -v 6: code, options and (hex) payload.
ANSWER = re.compile(rb"v:1 t:\w+ c:(2\.\d\d) i:\w+ \{\w*\} \[([^\]]*)\]"
                    rb"(?: :: binary data length \d+\n<<(\w+)>>)?")
INSTALL_STATES = ["manifest-accepted", "manifest-rejected", "downloading", "downloaded",
                  "verified", "self-test-passed", "activated", "confirmed", "rolled-back",
                  "failed"]  # protocol/cddl/status_report.cddl install-state, in order
REASON_ROLLBACK = 26  # spindle::Error::kRollback


def challenge_in(output):
    """(code, nonce or None) of the 2.xx answer in coap-client -v 6 output: the nonce of
    the attestation challenge it carried (content-format 60, protocol/cddl/gateway_request.cddl)."""
    match = ANSWER.search(output)
    if match is None:
        raise AssertionError(f"no 2.xx answer in {output!r}")
    code, options, payload = match.groups()
    if payload is None:
        return code.decode(), None
    if b"Content-Format:application/cbor" not in options:
        raise AssertionError(f"a payload without content-format 60: {options!r}")
    challenge = cbor2.loads(bytes.fromhex(payload.decode()))
    if set(challenge) != {1}:
        raise AssertionError(f"not a challenge: {challenge!r}")
    return code.decode(), challenge[1]


def attestation_report(device, keys, nonce, active_digest, firmware="0.1.0", forge=False):
    """An attestation status report (protocol/cddl/status_report.cddl) MACed as AD-7 says:
    HMAC-SHA256 under the attestation key over ["spindle-attest-v1", device, nonce,
    digest, firmware]; `forge` flips a bit of the MAC."""
    message = cbor2.dumps(["spindle-attest-v1", device, nonce, active_digest, firmware])
    mac = hmac.new(bytes.fromhex(keys["attestation_key"]), message, hashlib.sha256).digest()
    if forge:
        mac = bytes([mac[0] ^ 1]) + mac[1:]
    return cbor2.dumps({1: 1, 7: nonce, 8: active_digest, 9: firmware, 10: mac})


def coap_message(datagram):
    """(type, code, message id, {option number: [values]}, payload) of a CoAP datagram."""
    position = 4 + (datagram[0] & 0x0F)
    options, number = {}, 0

    def extended(value):
        nonlocal position
        if value == 13:
            value, position = datagram[position] + 13, position + 1
        elif value == 14:
            value = int.from_bytes(datagram[position:position + 2], "big") + 269
            position += 2
        return value

    while position < len(datagram) and datagram[position] != 0xFF:
        head = datagram[position]
        position += 1
        number += extended(head >> 4)
        length = extended(head & 0x0F)
        options.setdefault(number, []).append(datagram[position:position + length])
        position += length
    payload = datagram[position + 1:]
    return ((datagram[0] >> 4) & 0x03, datagram[1], int.from_bytes(datagram[2:4], "big"),
            options, payload)


class GatewayTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.gateways = []
        self.nodes = []
        private = os.path.join(self.dir.name, "signing.key")
        self.public = os.path.join(self.dir.name, "signing.pub")
        subprocess.run([PROTO, "keygen", "--private", private, "--public", self.public],
                       check=True, capture_output=True)
        self.private = private

    def tearDown(self):
        for node in self.nodes:
            if node.poll() is None:
                node.kill()
                node.wait()
        for gateway in self.gateways:
            gateway.stop()
        self.dir.cleanup()

    def gateway(self, **kwargs):
        gateway = g.Gateway(GATEWAY, self.dir.name, trust_keys=[(KID, self.public)], **kwargs)
        self.gateways.append(gateway)
        gateway.start()
        return gateway

    def node(self, gateway, device_id, keys, *extra):
        args = list(extra)
        if not gateway.insecure:
            args += ["--psk-file", g.write_psk_file(self.dir.name, device_id, keys)]
        node = h.start_node(NODE, device_id, gateway.coap_uri, self.dir.name, *args)
        self.nodes.append(node)
        return node

    def finish(self, node, timeout=120):
        output, _ = node.communicate(timeout=timeout)
        return node.returncode, output

    def assert_every_window_once(self, gateway, device, windows):
        """One latency record per window, none twice, and the readings' sequence numbers
        (feature-statistics readings take numbers too) without gaps."""
        records = gateway.telemetry(device)
        latency = [r for r in records if r["name"] == "latency"]
        self.assertEqual(len(latency), windows, "one latency record per window")
        self.assertEqual(len({r["seq"] for r in latency}), windows, "no window stored twice")
        every = sorted({r["seq"] for r in records})
        self.assertEqual(every, list(range(1, len(every) + 1)), "sequence numbers without gaps")
        keys = [(r["seq"], r["name"], r["time"]) for r in records]
        self.assertEqual(len(keys), len(set(keys)), "no record stored twice")
        return latency

    def coap(self, gateway, device, keys, method, path, *extra, payload=None, fmt=None):
        """Runs coap-client-openssl as `device`; returns (exit code, stdout+stderr bytes)."""
        args = [COAP_CLIENT.encode(), b"-m", method.encode(), b"-B", b"10"]
        if device is not None:
            args += [b"-u", device.encode(), b"-k", bytes.fromhex(keys["psk"])]
        if payload is not None:
            path_file = os.path.join(self.dir.name, "payload.bin")
            with open(path_file, "wb") as f:
                f.write(payload)
            args += [b"-f", path_file.encode()]
        if fmt is not None:
            args += [b"-t", str(fmt).encode()]
        args += [a.encode() for a in extra]
        args.append(f"{gateway.coap_uri}{path}".encode())
        result = subprocess.run(args, capture_output=True, timeout=60)
        return result.returncode, result.stdout + result.stderr

    def deploy(self, gateway, device, payload, version=1, model_id="vib-ae"):
        """Uploads `payload` and deploys it to `device` with a signed manifest."""
        model = gateway.api("POST", f"/api/v1/models?model_id={model_id}", raw=payload,
                            expect=201)
        manifest = {
            1: model_id, 2: version, 3: device, 4: bytes.fromhex(model["digest"]),
            5: len(payload), 6: {1: 33, 2: bytes(7), 3: bytes(24)},
            7: {1: 4096, 2: len(payload), 3: 1}, 8: {1: 45, 2: 3200, 3: 1024, 4: 3}, 9: 1.5,
        }
        payload_path = os.path.join(self.dir.name, "manifest.cbor")
        signed_path = os.path.join(self.dir.name, "manifest.cose")
        with open(payload_path, "wb") as f:
            f.write(cbor2.dumps(manifest))
        subprocess.run([PROTO, "sign", "--key", self.private, "--kid", KID, "--in", payload_path,
                        "--out", signed_path], check=True, capture_output=True)
        with open(signed_path, "rb") as f:
            signed = f.read()
        gateway.api("POST", "/api/v1/deployments",
                    {"deployments": [{"manifest": signed.hex()}]}, expect=201)
        return model["digest"]

    # ---- Registry ----

    def test_registration_and_refresh_are_kept(self):
        gateway = self.gateway()
        keys = gateway.provision("pump-1")["pump-1"]
        node = self.node(gateway, "pump-1", keys, "--windows", "40", "--speed", "4",
                         "--lifetime", "3", "--exit-when-sent")
        code, output = self.finish(node)
        self.assertEqual(code, 0, output)
        device = gateway.api("GET", "/api/v1/devices/pump-1", expect=200)
        self.assertTrue(device["online"])
        self.assertEqual(device["lifetime_s"], 3)
        self.assertEqual(device["registration"]["board"], "native_sim")
        self.assertEqual(len(gateway.events("pump-1", "registered")), 1)
        # 40 windows at 4x real time take 3.2 s: at least one refresh of the 3 s lifetime.
        self.assertGreaterEqual(
            gateway.metric("spindle_coap_responses_total", 'resource="rd-refresh",class="2xx"'), 1)
        self.assertGreater(device["last_seen_ms"],
                           gateway.events("pump-1", "registered")[0]["time_ms"])

    def test_a_retransmission_after_the_answer_is_answered_again_not_processed_again(self):
        gateway = self.gateway(insecure=True)
        gateway.provision("dup-1")
        with open(os.path.join(VECTORS, "registration.cbor"), "rb") as f:
            body = f.read()
        # CON POST /rd?ep=dup-1&lt=60, MID 0x1234, token AB, content-format 60.
        request = (bytes([0x41, 0x02, 0x12, 0x34, 0xAB, 0xB2]) + b"rd" + bytes([0x11, 60, 0x38]) +
                   b"ep=dup-1" + bytes([0x05]) + b"lt=60" + bytes([0xFF]) + body)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(5)
            sock.sendto(request, ("127.0.0.1", gateway.coap_port))
            codes = []
            while 0x41 not in codes:  # the empty ACK, then the separate 2.01
                codes.append(sock.recv(2048)[1])
            # The client "missed" the answer and retransmits the same message.
            sock.sendto(request, ("127.0.0.1", gateway.coap_port))
            again = sock.recv(2048)
            while again[1] != 0x41:  # skip the server's own retransmission of the 2.01
                again = sock.recv(2048)
        self.assertEqual(again[1], 0x41, "answered 2.01 again")
        self.assertEqual(len(gateway.events("dup-1", "registered")), 1, "processed once")

    def test_expired_lifetime_marks_device_offline_with_an_event(self):
        gateway = self.gateway()
        keys = gateway.provision("fan-2")["fan-2"]
        node = self.node(gateway, "fan-2", keys, "--windows", "3", "--speed", "0",
                         "--lifetime", "2", "--exit-when-sent")
        code, output = self.finish(node)
        self.assertEqual(code, 0, output)
        h.wait_for(lambda: not gateway.api("GET", "/api/v1/devices/fan-2")["online"], 10,
                   "fan-2 offline")
        offline = gateway.events("fan-2", "offline")
        self.assertEqual(len(offline), 1)
        self.assertIn("lifetime of 2 s", offline[0]["detail"])
        self.assertEqual(gateway.metric("spindle_devices_online"), 0)

    # ---- Telemetry ----

    def test_telemetry_round_trips_through_the_http_api(self):
        gateway = self.gateway()
        keys = gateway.provision("press-3")["press-3"]
        node = self.node(gateway, "press-3", keys, "--windows", "30", "--speed", "0",
                         "--exit-when-sent")
        code, output = self.finish(node)
        self.assertEqual(code, 0, output)
        latency = self.assert_every_window_once(gateway, "press-3", 30)
        self.assertTrue(all(r["unit"] == "s" and r["value"] > 0 for r in latency))
        times = [r["time"] for r in latency]
        self.assertTrue(all(abs(t - time.time()) < 600 for t in times))
        # Time-range queries select by reading time.
        middle = sorted(times)[15]
        later = gateway.api("GET", f"/api/v1/telemetry?device=press-3&name=latency&from={middle}",
                            expect=200)["records"]
        self.assertEqual(len(later), len([t for t in times if t >= middle]))
        self.assertEqual(gateway.metric("spindle_telemetry_duplicates_total"), 0)

    def test_kill_9_after_acknowledgements_loses_and_duplicates_nothing(self):
        gateway = self.gateway()
        keys = gateway.provision("mill-4")["mill-4"]
        node = self.node(gateway, "mill-4", keys, "--windows", "120", "--speed", "8",
                         "--exit-when-sent", "--drain-timeout", "60")
        h.wait_for(lambda: len(gateway.telemetry("mill-4", "latency")) >= 20, 60,
                   "20 readings stored")
        gateway.kill()
        time.sleep(1.0)
        gateway.start()
        code, output = self.finish(node, timeout=180)
        self.assertEqual(code, 0, output)
        self.assert_every_window_once(gateway, "mill-4", 120)

    def test_sigterm_mid_stream_stops_cleanly_and_keeps_everything(self):
        gateway = self.gateway()
        keys = gateway.provision("saw-5")["saw-5"]
        node = self.node(gateway, "saw-5", keys, "--windows", "80", "--speed", "8",
                         "--exit-when-sent", "--drain-timeout", "60")
        h.wait_for(lambda: len(gateway.telemetry("saw-5", "latency")) >= 10, 60,
                   "10 readings stored")
        self.assertEqual(gateway.stop(), 0, "SIGTERM is a clean exit")
        self.assertIn("stopped cleanly", gateway.log())
        gateway.start()
        code, output = self.finish(node, timeout=180)
        self.assertEqual(code, 0, output)
        self.assert_every_window_once(gateway, "saw-5", 80)

    # ---- Access control ----

    def test_unknown_psk_identity_is_refused(self):
        gateway = self.gateway()
        code, output = self.coap(gateway, "intruder", {"psk": "41" * 16}, "get",
                                 "/.well-known/core")
        self.assertNotIn(b"</rd>", output)
        h.wait_for(lambda: gateway.metric("spindle_dtls_refused_identities_total") >= 1, 5,
                   "refusal counted")
        self.assertTrue(gateway.healthy())

    def test_a_device_is_refused_another_devices_resources(self):
        gateway = self.gateway()
        devices = nul_free_devices(gateway, "cell-", 2)
        (a, a_keys), (b, b_keys) = devices.items()
        digest = self.deploy(gateway, b, os.urandom(3000))
        senml = cbor2.dumps([{-2: f"urn:dev:spindle:{b}:", 0: "score", 2: 1.0, "seq": 1}])
        _, out = self.coap(gateway, a, a_keys, "post", f"/t/{b}", payload=senml, fmt=112)
        self.assertIn(b"4.03", out)
        _, out = self.coap(gateway, a, a_keys, "get", f"/d/{b}/manifest")
        self.assertIn(b"4.03", out)
        _, out = self.coap(gateway, a, a_keys, "post", f"/rd?ep={b}&lt=60",
                           payload=b"\xa0", fmt=60)
        self.assertIn(b"4.03", out)
        _, out = self.coap(gateway, a, a_keys, "get", f"/m/{digest}")
        self.assertIn(b"4.04", out)
        # The owner gets its manifest.
        manifest = os.path.join(self.dir.name, "b.manifest")
        code, out = self.coap(gateway, b, b_keys, "get", f"/d/{b}/manifest", "-o", manifest)
        self.assertEqual(code, 0, out)
        with open(manifest, "rb") as f:
            self.assertEqual(f.read()[:1], b"\xd2")  # tag 18: COSE_Sign1
        self.assertEqual(gateway.telemetry(b), [])

    def test_flood_from_one_peer_is_rate_limited_and_others_are_still_served(self):
        gateway = self.gateway(insecure=True, extra=["--peer-rate", "20", "--peer-burst", "20"])

        def get_core(sock, message_id):
            # CoAP NON GET /.well-known/core, no token (RFC 7252 section 3).
            return (bytes([0x50, 0x01]) + message_id.to_bytes(2, "big") + bytes([0xBB]) +
                    b".well-known" + bytes([0x04]) + b"core")

        def codes(sock, count):
            for i in range(count):
                sock.sendto(get_core(sock, i), ("127.0.0.1", gateway.coap_port))
            seen, deadline = [], time.monotonic() + 3
            sock.settimeout(0.2)
            while time.monotonic() < deadline and len(seen) < count:
                try:
                    seen.append(sock.recv(2048)[1])
                except OSError:
                    pass
            return seen

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as flooder:
            seen = codes(flooder, 300)
        content, too_many = seen.count(0x45), seen.count(0x9D)  # 2.05, 4.29
        self.assertLessEqual(content, 40, "about the burst, then the rate")
        self.assertGreater(too_many, 200)
        self.assertGreater(gateway.metric("spindle_coap_rate_limited_total"), 200)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
            self.assertEqual(codes(other, 1), [0x45], "another peer is served")
        self.assertTrue(gateway.healthy())

    # ---- Bad input ----

    def test_random_datagrams_leave_the_gateway_serving(self):
        """Garbage, truncated CoAP and CoAP with random options, on the plain and the DTLS
        port: nothing crashes the gateway or makes it stop answering."""
        import random
        rng = random.Random(1234)
        plain = self.gateway(insecure=True, extra=["--peer-rate", "100000",
                                                   "--peer-burst", "100000"])
        second = os.path.join(self.dir.name, "second")
        os.mkdir(second)
        secure = g.Gateway(GATEWAY, second)
        self.gateways.append(secure)
        secure.start()
        plain.provision("probe-1")

        def coap_like():
            kind = rng.randrange(4)
            if kind == 0:
                return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 80)))
            header = bytes([0x40 | rng.randrange(16), rng.choice([1, 2, 3, 4, 5, 0x45]),
                            rng.randrange(256), rng.randrange(256)])
            body = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 300)))
            if kind == 1:
                return header + body
            path = rng.choice([b"t", b"rd", b"d", b"m", b".well-known"])
            option = bytes([0xB0 | min(len(path), 12)]) + path[:12]
            return header + option + bytes([0xFF]) + body

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for i in range(3000):
                target = plain.coap_port if i % 2 == 0 else secure.coap_port
                sock.sendto(coap_like(), ("127.0.0.1", target))
        time.sleep(1.0)
        for gateway in (plain, secure):
            self.assertIsNone(gateway.process.poll(), "still running")
            self.assertTrue(gateway.healthy())
        good = cbor2.dumps([{-2: "urn:dev:spindle:probe-1:", -3: time.time(), 0: "score",
                             2: 0.5, "seq": 1}])
        code, out = self.coap(plain, None, None, "post", "/t/probe-1", payload=good, fmt=112)
        self.assertEqual(code, 0, out)
        self.assertEqual([r["name"] for r in plain.telemetry("probe-1")], ["score"])

    def test_malformed_and_oversized_payloads_are_rejected_and_the_gateway_keeps_serving(self):
        gateway = self.gateway(extra=["--max-request-payload", "512"])
        (device, keys), = nul_free_devices(gateway, "lathe-", 1).items()
        _, out = self.coap(gateway, device, keys, "post", f"/t/{device}",
                           payload=b"\x9f\xff\x00garbage", fmt=112)
        self.assertIn(b"4.00", out)
        _, out = self.coap(gateway, device, keys, "post", f"/t/{device}",
                           payload=cbor2.dumps([{0: "x", 2: 1.0, "pad": "p" * 700}]), fmt=112)
        self.assertIn(b"4.13", out)
        _, out = self.coap(gateway, device, keys, "post", f"/t/{device}",
                           payload=cbor2.dumps([{0: "x", 2: 1.0}]), fmt=60)
        self.assertIn(b"4.15", out)
        kinds = [e["detail"] for e in gateway.events(device, "bad-telemetry")]
        self.assertEqual(len(kinds), 2, kinds)
        self.assertEqual(gateway.telemetry(device), [], "nothing of a rejected batch is stored")
        # Still serving: a good batch is accepted and stored.
        good = cbor2.dumps([{-2: f"urn:dev:spindle:{device}:", -3: time.time(), 0: "score",
                             2: 0.5, "seq": 1}])
        code, out = self.coap(gateway, device, keys, "post", f"/t/{device}", payload=good,
                              fmt=112)
        self.assertEqual(code, 0, out)
        self.assertEqual([r["name"] for r in gateway.telemetry(device)], ["score"])
        self.assertTrue(gateway.healthy())

    # ---- Attestation and install reports ----

    def test_attest_and_keys_endpoints(self):
        gateway = self.gateway()
        keys = gateway.provision("gauge-1")["gauge-1"]
        self.assertEqual(gateway.api("GET", "/api/v1/devices/gauge-1/keys", expect=200),
                         {"device": "gauge-1", "psk": keys["psk"], "model_kek": keys["model_kek"],
                          "attestation_key": keys["attestation_key"]})
        self.assertEqual(gateway.request("GET", "/api/v1/devices/gauge-9/keys")[0], 404)
        before = int(time.time() * 1000)
        issued = gateway.api("POST", "/api/v1/devices/gauge-1/attest", expect=201)
        self.assertEqual(issued["device"], "gauge-1")
        self.assertEqual(len(bytes.fromhex(issued["nonce"])), 16)
        self.assertAlmostEqual(issued["expires_ms"] - before, 600_000, delta=10_000)
        self.assertEqual(gateway.request("POST", "/api/v1/devices/gauge-9/attest")[0], 404)
        self.assertEqual([d["id"] for d in gateway.api("GET", "/api/v1/devices")["devices"]],
                         ["gauge-1"], "neither endpoint provisions")
        self.assertIsNone(gateway.api("GET", "/api/v1/devices/gauge-1")["attestation"])

    def test_attestation_challenge_rides_on_answers_and_answers_are_judged(self):
        gateway = self.gateway()
        (device, keys), = nul_free_devices(gateway, "attest-", 1).items()
        digest = bytes.fromhex(self.deploy(gateway, device, os.urandom(2000)))
        seq = iter(range(1, 100))

        def telemetry():
            pack = cbor2.dumps([{-2: f"urn:dev:spindle:{device}:", -3: time.time(), 0: "score",
                                 2: 0.5, "seq": next(seq)}])
            _, out = self.coap(gateway, device, keys, "post", f"/t/{device}", "-v", "6",
                               payload=pack, fmt=112)
            return challenge_in(out)

        def report(body):
            _, out = self.coap(gateway, device, keys, "post", f"/d/{device}/status", "-v", "6",
                               payload=body, fmt=60)
            return challenge_in(out)[0]

        def verdict():
            return gateway.api("GET", f"/api/v1/devices/{device}", expect=200)["attestation"]

        self.assertEqual(telemetry(), ("2.04", None), "no challenge outstanding")
        nonce = bytes.fromhex(
            gateway.api("POST", f"/api/v1/devices/{device}/attest", expect=201)["nonce"])
        # Registration (2.01), refresh (2.04) and telemetry (2.04) all carry the challenge.
        with open(os.path.join(VECTORS, "registration.cbor"), "rb") as f:
            _, out = self.coap(gateway, device, keys, "post", f"/rd?ep={device}&lt=60", "-v", "6",
                               payload=f.read(), fmt=60)
        self.assertEqual(challenge_in(out), ("2.01", nonce))
        _, out = self.coap(gateway, device, keys, "post", f"/rd/{device}", "-v", "6")
        self.assertEqual(challenge_in(out), ("2.04", nonce))
        self.assertEqual(telemetry(), ("2.04", nonce))

        # The right answer: match, and the challenge is used up.
        answer = attestation_report(device, keys, nonce, digest)
        self.assertEqual(report(answer), "2.04")
        seen = verdict()
        self.assertEqual(seen["verdict"], "match")
        self.assertEqual(seen["active_digest"], digest.hex())
        self.assertEqual(seen["expected_digest"], digest.hex())
        self.assertEqual(seen["firmware"], "0.1.0")
        self.assertEqual(seen["nonce"], nonce.hex())
        self.assertEqual(telemetry(), ("2.04", None), "consumed")
        # The same answer again: stale.
        self.assertEqual(report(answer), "2.04")
        self.assertEqual(verdict()["verdict"], "stale")

        # A new challenge; a forged MAC does not use it up; another digest is a mismatch.
        nonce = bytes.fromhex(
            gateway.api("POST", f"/api/v1/devices/{device}/attest", expect=201)["nonce"])
        self.assertEqual(report(attestation_report(device, keys, nonce, digest, forge=True)),
                         "2.04")
        self.assertEqual(verdict()["verdict"], "mac-invalid")
        self.assertEqual(telemetry(), ("2.04", nonce), "still outstanding")
        other = hashlib.sha256(b"a model nobody deployed").digest()
        self.assertEqual(report(attestation_report(device, keys, nonce, other, "0.2.0")), "2.04")
        seen = verdict()
        self.assertEqual((seen["verdict"], seen["active_digest"], seen["firmware"]),
                         ("mismatch", other.hex(), "0.2.0"))
        self.assertEqual(seen["expected_digest"], digest.hex())

        kinds = [e["kind"] for e in gateway.events(device) if e["kind"].startswith("attestation")]
        self.assertEqual(kinds, ["attestation", "attestation-stale", "attestation-failed",
                                 "attestation-mismatch"])
        for name in ("match", "stale", "mac-invalid", "mismatch"):
            self.assertEqual(gateway.metric("spindle_attestations_total", f'verdict="{name}"'), 1)
        # The verdict outlives the process; the challenge (memory only) does not.
        gateway.stop()
        gateway.start()
        self.assertEqual(verdict()["verdict"], "mismatch")
        self.assertEqual(telemetry(), ("2.04", None))

    def test_a_retransmission_after_the_answer_gets_the_same_challenge(self):
        gateway = self.gateway(insecure=True)
        gateway.provision("raw-1")
        nonce = bytes.fromhex(
            gateway.api("POST", "/api/v1/devices/raw-1/attest", expect=201)["nonce"])
        pack = cbor2.dumps([{-2: "urn:dev:spindle:raw-1:", -3: time.time(), 0: "score", 2: 0.5,
                             "seq": 1}])
        # CON POST /t/raw-1, MID 0x4321, token AC, content-format 112.
        request = (bytes([0x41, 0x02, 0x43, 0x21, 0xAC, 0xB1]) + b"t" + bytes([0x05]) + b"raw-1" +
                   bytes([0x11, 112, 0xFF]) + pack)
        con, ack = 0, 2

        def receive(sock, wanted):
            for _ in range(20):  # and at most 5 s each: the socket's timeout
                message = coap_message(sock.recv(2048))
                if wanted(message):
                    return message
            raise AssertionError("no such answer")

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(5)
            sock.sendto(request, ("127.0.0.1", gateway.coap_port))
            first = receive(sock, lambda m: m[1] == 0x44)  # the separate 2.04
            if first[0] == con:  # acknowledge it, so that the server does not send it again
                sock.sendto(bytes([0x60, 0x00]) + first[2].to_bytes(2, "big"),
                            ("127.0.0.1", gateway.coap_port))
            # The client "missed" the answer and retransmits the same message.
            sock.sendto(request, ("127.0.0.1", gateway.coap_port))
            again = receive(sock, lambda m: m[0] == ack and m[2] == 0x4321 and m[1] != 0)
        for answer in (first, again):
            self.assertEqual(answer[1], 0x44)
            self.assertEqual(answer[3].get(12), [bytes([60])], "content-format 60")
            self.assertEqual(answer[4], cbor2.dumps({1: nonce}))
        self.assertEqual(len(gateway.telemetry("raw-1")), 1, "stored once")

    def test_install_reports_reach_the_deployment_view_with_their_reason(self):
        gateway = self.gateway(insecure=True)
        gateway.provision("kiln-1")
        self.deploy(gateway, "kiln-1", os.urandom(1500), version=2)

        def send(version, state, reason=0):
            body = cbor2.dumps({1: 0, 2: "vib-ae", 3: version, 4: state, 5: reason})
            code, out = self.coap(gateway, None, None, "post", "/d/kiln-1/status", payload=body,
                                  fmt=60)
            self.assertEqual(code, 0, out)
            deployment = gateway.api("GET", "/api/v1/devices/kiln-1", expect=200)["deployment"]
            return deployment["state"], deployment["reason"]

        for number, name in enumerate(INSTALL_STATES):
            self.assertEqual(send(2, number), (name, "ok"))
        # The node refuses the version (it runs a newer one): the reason says why.
        self.assertEqual(send(2, INSTALL_STATES.index("manifest-rejected"), REASON_ROLLBACK),
                         ("manifest-rejected", "rollback"))
        # A report about a version that is not the current deployment changes nothing.
        self.assertEqual(send(1, INSTALL_STATES.index("confirmed")),
                         ("manifest-rejected", "rollback"))
        self.assertEqual(len(gateway.events("kiln-1", "install")), len(INSTALL_STATES) + 2)

    # ---- Interoperability with libcoap's own client ----

    def test_libcoap_client_discovers_downloads_blockwise_and_posts_telemetry(self):
        gateway = self.gateway()
        (device, keys), = nul_free_devices(gateway, "interop-", 1).items()

        # Observe the manifest before anything is deployed: the notification brings it.
        observer = subprocess.Popen(
            [COAP_CLIENT.encode(), b"-m", b"get", b"-s", b"6", b"-B", b"8", b"-u",
             device.encode(), b"-k", bytes.fromhex(keys["psk"]),
             f"{gateway.coap_uri}/d/{device}/manifest".encode()],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        time.sleep(2.0)
        payload = os.urandom(5000)
        digest = self.deploy(gateway, device, payload)
        self.assertEqual(digest, hashlib.sha256(payload).hexdigest())
        notified, _ = observer.communicate(timeout=30)
        self.assertIn(b"vib-ae", notified, "the deployment was notified to the observer")

        code, out = self.coap(gateway, device, keys, "get", "/.well-known/core")
        self.assertEqual(code, 0, out)
        for link in (f"</t/{device}>", f"</d/{device}/manifest>", f"</m/{digest}>"):
            self.assertIn(link.encode(), out)

        downloaded = os.path.join(self.dir.name, "model.bin")
        code, out = self.coap(gateway, device, keys, "get", f"/m/{digest}", "-b", "64",
                              "-o", downloaded)
        self.assertEqual(code, 0, out)
        with open(downloaded, "rb") as f:
            self.assertEqual(f.read(), payload, "byte for byte over DTLS-PSK, 64-byte blocks")
        self.assertGreaterEqual(gateway.metric("spindle_blocks_served_total"), 5000 // 64)

        pack = cbor2.dumps([
            {-2: f"urn:dev:spindle:{device}:", -3: 1.7e9, 0: "score", 2: 0.25, "seq": 9},
            {0: "latency", 1: "s", 2: 0.004, "seq": 9},
        ])
        code, out = self.coap(gateway, device, keys, "post", f"/t/{device}", payload=pack,
                              fmt=112)
        self.assertEqual(code, 0, out)
        stored = {r["name"]: r for r in gateway.telemetry(device)}
        self.assertEqual(stored["score"]["value"], 0.25)
        self.assertEqual(stored["latency"]["seq"], 9)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--node", required=True)
    parser.add_argument("--proto", required=True)
    parser.add_argument("--coap-client", default="/usr/bin/coap-client-openssl")
    args, rest = parser.parse_known_args()
    GATEWAY, NODE, PROTO, COAP_CLIENT = args.gateway, args.node, args.proto, args.coap_client
    unittest.main(argv=[sys.argv[0]] + rest)
