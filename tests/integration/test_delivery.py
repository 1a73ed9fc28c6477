"""Integration: secure model delivery end to end with real processes — spindlectl packs,
signs and deploys; spindle-gateway serves; spindle-node processes verify, download (Block2),
decrypt, self-test, activate and confirm, and answer attestation challenges. Interruptions
(kill -9 mid-download, power cuts during install, a gateway restart), bad input (a corrupted
block, bad signatures, unknown keys, replayed versions, manifests for another device or too
big for the board) and a lossy, reordering, duplicating link (spindle-linkemu)."""
import argparse
import os
import re
import select
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

import gateway_harness as g
import node_harness as h

GATEWAY = NODE = CTL = MAKE_MODEL = LINKEMU = None
KID = "ops-key"


def run(*args, expect=0, timeout=120):
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True,
                            timeout=timeout)
    if expect is not None and result.returncode != expect:
        raise AssertionError(f"{' '.join(map(str, args))} exited {result.returncode}, "
                             f"expected {expect}:\n{result.stdout}\n{result.stderr}")
    return result


class Site:
    """A gateway with its operator: signing key, spindlectl, provisioned nodes."""

    def __init__(self, workdir, insecure=False, extra_trust=()):
        self.workdir = workdir
        os.makedirs(workdir, exist_ok=True)
        if not os.path.exists(self.key):
            run(CTL, "keygen", "--kid", KID, "--out-dir", workdir)
        trust = [(KID, self.pub)] + list(extra_trust)
        self.gateway = g.Gateway(GATEWAY, workdir, insecure=insecure, trust_keys=trust)
        self.gateway.start()
        self.nodes = {}

    key = property(lambda self: os.path.join(self.workdir, KID + ".key"))
    pub = property(lambda self: os.path.join(self.workdir, KID + ".pub"))

    def ctl(self, command, *args, expect=0, timeout=120):
        api = ["--api", f"http://127.0.0.1:{self.gateway.http_port}",
               "--token-file", os.path.join(self.gateway.data_dir, "api-token")]
        return run(CTL, command, *api, *args, expect=expect, timeout=timeout)

    def provision(self, *devices, coap_uri=None):
        args = []
        for d in devices:
            args += ["--device", d]
        self.ctl("provision", *args, "--coap-uri", coap_uri or self.gateway.coap_uri,
                 "--trust-key", f"{KID}={self.pub}", "--out-dir", self.workdir)
        return [os.path.join(self.workdir, d + ".provision") for d in devices]

    def model(self, name, layers, seed):
        path = os.path.join(self.workdir, name + ".bin")
        run(MAKE_MODEL, "--layers", layers, "--seed", seed, "--out", path)
        return path

    def pack(self, model, model_id, version, board="native_sim", key=None, kid=KID):
        out = os.path.join(self.workdir, f"{model_id}-{version}.spkg")
        run(CTL, "pack", "--model", model, "--model-id", model_id, "--version", version,
            "--board", board, "--signing-key", key or self.key, "--kid", kid, "--out", out)
        return out

    def deploy(self, package, *devices, key=None, kid=KID, expect=0):
        args = []
        for d in devices:
            args += ["--device", d]
        return self.ctl("deploy", "--package", package, "--signing-key", key or self.key,
                        "--kid", kid, *args, expect=expect)

    def wait_state(self, state, *devices, timeout=90, expect=0):
        args = []
        for d in devices:
            args += ["--device", d]
        return self.ctl("status", *args, "--wait-state", state, "--timeout", timeout,
                        expect=expect, timeout=timeout + 30)

    def deployment(self, device):
        view = self.gateway.api("GET", f"/api/v1/devices/{device}", expect=200)
        return view.get("deployment") or {}

    def start_node(self, device, *extra, gateway=None, env=None):
        defaults = ["--speed", "4"] if "--speed" not in extra else []
        args = [NODE, "--provision", os.path.join(self.workdir, device + ".provision"),
                "--flash", os.path.join(self.workdir, device + ".flash"), *defaults,
                "--health-windows", "6", "--log-level", "debug", *extra]
        if gateway:
            args += ["--gateway", gateway]
        node = Node(subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     env=env))
        self.nodes[device] = node
        return node

    def stop(self):
        for node in self.nodes.values():
            node.kill()
        self.gateway.stop()


class Node:
    """A spindle-node process whose output is read as it comes."""

    def __init__(self, process):
        self.process = process
        self.output = b""

    def read(self, timeout=0.1):
        if self.process.stdout is None:
            return
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if ready:
            chunk = os.read(self.process.stdout.fileno(), 65536)
            self.output += chunk

    def wait_output(self, pattern, timeout):
        """The first match of `pattern` (bytes regex) in the output, waiting up to timeout."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while time.monotonic() < deadline:
            match = regex.search(self.output)
            if match:
                return match
            if self.process.poll() is not None:
                self.read(0)
                match = regex.search(self.output)
                if match:
                    return match
                raise AssertionError(f"node exited {self.process.returncode} before "
                                     f"{pattern!r}:\n{self.summary()}")
            self.read()
        raise AssertionError(f"no {pattern!r} within {timeout}s:\n{self.summary()}")

    def text(self):
        return self.output.decode(errors="replace")

    def summary(self, lines=60):
        """The node's log without the per-batch and per-block lines, for failure messages."""
        kept = [line for line in self.text().splitlines()
                if "batch of" not in line and "stored block" not in line]
        blocks = re.findall(r"stored block (\d+):", self.text())
        tail = "\n".join(kept[-lines:])
        return f"{tail}\n(blocks stored: {blocks[:1]}..{blocks[-1:]}, {len(blocks)} lines)"

    def kill(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.read(0)
        if self.process.stdout is not None:
            self.process.stdout.close()
            self.process.stdout = None

    def wait_exit(self, timeout):
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            self.read()
        self.read(0)
        if self.process.poll() is None:
            raise AssertionError(f"node still running after {timeout}s")
        return self.process.returncode


def high_entropy_windows(data, size=16):
    """Offsets of `size`-byte windows of `data` with at least 12 distinct bytes: runs that
    can only appear elsewhere by copying (zero padding would match anything)."""
    return [i for i in range(0, len(data) - size + 1, 8) if len(set(data[i:i + size])) >= 12]


class DeliveryTest(unittest.TestCase):
    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="spindle-delivery-")
        self.sites = []
        self.relays = []

    def tearDown(self):
        for relay in self.relays:
            relay.stop()
        for site in self.sites:
            site.stop()
        if hasattr(self, "_outcome") and all(e is None for _, e in
                                              getattr(self._outcome, "errors", [])):
            shutil.rmtree(self.workdir, ignore_errors=True)
        else:
            print(f"kept {self.workdir}", file=sys.stderr)

    def site(self, **kwargs):
        site = Site(self.workdir, **kwargs)
        self.sites.append(site)
        return site

    def relay(self, site, *impairments, capture=None):
        relay = h.Relay(LINKEMU, site.gateway.coap_port, *impairments, capture=capture)
        self.relays.append(relay)
        scheme = "coap" if site.gateway.insecure else "coaps"
        return relay, f"{scheme}://127.0.0.1:{relay.port}"

    # ---- happy path ----

    def test_three_nodes_verify_activate_confirm_and_attest_the_deployed_model(self):
        site = self.site()
        devices = ["line-a", "line-b", "line-c"]
        site.provision(*devices)
        for d in devices:
            site.start_node(d)
        package = site.pack(site.model("ae", "45,16,8,16,45", 1), "vib-ae", 1)
        site.deploy(package, *devices)
        status = site.wait_state("confirmed", *devices)
        for d in devices:
            self.assertIn(d, status.stdout)
            self.assertEqual(site.deployment(d)["state"], "confirmed")
            attested = site.ctl("attest", "--device", d, "--wait", "30")
            self.assertIn("match", attested.stdout)
            node = site.nodes[d]
            node.wait_output(rb"self-tests passed", 5)

    # ---- interruptions ----

    def test_a_node_killed_mid_download_resumes_where_it_stopped(self):
        site = self.site()
        # ~9 KB in 64-byte blocks over a link with a 10 ms round trip: ~150 blocks, each
        # slow enough that the kill lands on the block that was aimed at.
        relay, uri = self.relay(site, "--delay-ms", "5", "--seed", "11")
        site.provision("resume-1", coap_uri=uri)
        package = site.pack(site.model("big", "45,64,16,64,45", 2), "vib-big", 1)
        node = site.start_node("resume-1", "--block-size", "64")
        node.wait_output(rb"registered at", 30)
        site.deploy(package, "resume-1")
        resumed_at = []
        # Killed after the first block, in the middle, and while fetching the last block.
        for where in ("first", "middle", "last"):
            match = node.wait_output(rb"stored block (\d+): (\d+) of (\d+) bytes", 60)
            size = int(match.group(3))
            total = (size + 63) // 64
            target = {"first": 0, "middle": total // 2, "last": total - 2}[where]
            stored = [int(b) for b in re.findall(rb"stored block (\d+):", node.output)]
            if max(stored) < target:
                node.wait_output(rb"stored block %d:" % target, 60)
            node.kill()
            node = site.start_node("resume-1", "--block-size", "64")
            match = node.wait_output(rb"resuming the download at block (\d+)", 60)
            resumed_at.append(int(match.group(1)))
            self.assertGreater(int(match.group(1)), target,
                               f"killed after block {target} ({where}): the download "
                               f"started over instead of resuming")
        site.wait_state("confirmed", "resume-1")
        self.assertEqual(len(resumed_at), 3)
        attested = site.ctl("attest", "--device", "resume-1", "--wait", "30")
        self.assertIn("match", attested.stdout)

    def test_power_cuts_during_install_leave_a_valid_model_and_the_install_completes(self):
        site = self.site()
        site.provision("cut-1")
        node = site.start_node("cut-1")
        site.deploy(site.pack(site.model("v1", "45,16,8,16,45", 3), "vib-cut", 1), "cut-1")
        site.wait_state("confirmed", "cut-1")
        node.kill()
        flash = os.path.join(self.workdir, "cut-1.flash")
        baseline = flash + ".v1"
        shutil.copy(flash, baseline)
        site.deploy(site.pack(site.model("v2", "45,32,8,32,45", 4), "vib-cut", 2), "cut-1")
        seen = set()
        # Flash operations are counted from boot: the boot counter first, then the install
        # (telemetry is slowed down so that it rarely writes in between). Cut at points
        # spread over the whole install, from the first erase until past the activation.
        for cut in range(2, 200, 3):
            shutil.copy(baseline, flash)
            env = dict(os.environ, SPINDLE_FLASH_POWER_CUT_AFTER=str(cut))
            node = site.start_node("cut-1", "--speed", "0.05", "--block-size", "256", env=env)
            try:
                code = node.wait_exit(20)
            except AssertionError:
                # Still running: the install completed before the cut was due.
                self.assertIn(b"vib-cut v2: activated", node.output, node.summary())
                node.kill()
                break
            self.assertEqual(code, 86, f"cut {cut}: the node did not lose power:\n"
                             f"{node.summary()}")
            # Power back: the node boots with a valid model, the old one or the new one.
            node = site.start_node("cut-1", "--speed", "0.05")
            match = node.wait_output(rb"running vib-cut v(\d+)", 60)
            seen.add(int(match.group(1)))
            node.kill()
        else:
            self.fail("the install never completed before a cut")
        self.assertEqual(seen, {1, 2}, "cuts should fall both before and after activation")
        shutil.copy(baseline, flash)
        site.start_node("cut-1")
        site.wait_state("confirmed", "cut-1")
        self.assertEqual(site.deployment("cut-1")["version"], 2)

    def test_the_download_completes_across_a_gateway_restart(self):
        site = self.site()
        # A slow link (64 kbit/s), so the gateway goes down mid-transfer.
        relay, uri = self.relay(site, "--rate-kbps", "64", "--seed", "7")
        site.provision("gw-restart", coap_uri=uri)
        node = site.start_node("gw-restart", "--block-size", "256")
        node.wait_output(rb"registered at", 30)
        site.deploy(site.pack(site.model("mid", "45,128,64,128,45", 5), "vib-mid", 1),
                    "gw-restart")
        node.wait_output(rb"stored block 8:", 60)
        site.gateway.kill()
        time.sleep(1)
        site.gateway.start()
        site.wait_state("confirmed", "gw-restart", timeout=150)
        # One download, continued across the outage rather than started again.
        self.assertEqual(node.output.count(b"stored block 0:"), 1)

    # ---- bad input ----

    def test_a_corrupted_block_fails_the_digest_and_the_payload_is_fetched_again(self):
        site = self.site(insecure=True)  # plain CoAP: DTLS would drop the altered record
        relay, uri = self.relay(site, "--corrupt", "1", "--corrupt-count", "1",
                                "--corrupt-min-bytes", "1000", "--corrupt-direction", "down",
                                "--seed", "3")
        site.provision("corrupt-1", coap_uri=uri)
        node = site.start_node("corrupt-1")
        node.wait_output(rb"registered at", 30)
        site.deploy(site.pack(site.model("c", "45,64,16,64,45", 6), "vib-c", 1), "corrupt-1")
        node.wait_output(rb"failed \(digest-mismatch\)", 60)
        site.wait_state("confirmed", "corrupt-1")
        events = site.gateway.events("corrupt-1")
        details = " ".join(e["detail"] for e in events)
        self.assertIn("digest-mismatch", details)
        self.assertLess(details.index("digest-mismatch"), details.index("activated"))

    def test_bad_manifests_are_rejected_with_their_reason_visible_in_status(self):
        rogue_dir = os.path.join(self.workdir, "rogue")
        os.makedirs(rogue_dir)
        run(CTL, "keygen", "--kid", "rogue", "--out-dir", rogue_dir)
        rogue_key = os.path.join(rogue_dir, "rogue.key")
        # The gateway trusts the rogue key; the nodes do not (they only trust KID).
        site = self.site(extra_trust=[("rogue", os.path.join(rogue_dir, "rogue.pub"))])
        site.provision("bad-1", "bad-2")
        site.start_node("bad-1")
        site.start_node("bad-2")
        model = site.model("m", "45,16,8,16,45", 7)
        site.deploy(site.pack(model, "vib-m", 1), "bad-1", "bad-2")
        site.wait_state("confirmed", "bad-1", "bad-2")

        # Signed by a key the node does not know.
        site.deploy(site.pack(model, "vib-m", 2, key=rogue_key, kid="rogue"), "bad-1",
                    key=rogue_key, kid="rogue")
        self.assert_rejected(site, "bad-1", "unknown-key")

        # What only a compromised gateway could serve: altered in its database.
        site.deploy(site.pack(model, "vib-m", 3), "bad-1", "bad-2")
        site.wait_state("confirmed", "bad-1", "bad-2")
        db = os.path.join(site.gateway.data_dir, "spindle.db")
        cases = [("bad signature", "bad-signature"), ("another device", "not-for-this-device"),
                 ("replayed older version", "rollback")]
        for what, reason in cases:
            with self.subTest(what):
                site.gateway.stop()
                with sqlite3.connect(db) as c:
                    rows = c.execute("SELECT id, manifest, version FROM deployments WHERE "
                                     "device_id='bad-1' ORDER BY id").fetchall()
                    newest_id, newest, _ = rows[-1]
                    if what == "bad signature":
                        forged = bytearray(newest)
                        forged[-1] ^= 1
                    elif what == "another device":
                        forged = c.execute("SELECT manifest FROM deployments WHERE "
                                           "device_id='bad-2' ORDER BY id DESC").fetchone()[0]
                    else:
                        forged = rows[0][1]  # the first manifest bad-1 ever got, version 1
                    version = rows[0][2] if what == "replayed older version" else rows[-1][2]
                    c.execute("UPDATE deployments SET manifest=?, version=?, state='pending' "
                              "WHERE id=?", (bytes(forged), version, newest_id))
                site.gateway.start()
                self.assert_rejected(site, "bad-1", reason)
        status = site.ctl("status", "--device", "bad-1")
        self.assertIn("manifest-rejected", status.stdout)

    def test_a_model_too_big_for_the_board_is_rejected_before_download(self):
        site = self.site()
        site.provision("small-1")
        node = site.start_node("small-1", "--board", "nrf52840dk")
        # ~180 KB of weights: fits a native_sim slot, not an nRF52840 one (124 KiB).
        package = site.pack(site.model("huge", "45,400,180,400,45", 8), "vib-huge", 1)
        site.deploy(package, "small-1")
        self.assert_rejected(site, "small-1", "does-not-fit")
        self.assertNotIn(b"stored block", node.output)

    def assert_rejected(self, site, device, reason, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            d = site.deployment(device)
            if d.get("state") == "manifest-rejected":
                self.assertEqual(d.get("reason"), reason, d)
                status = site.ctl("status", "--device", device)
                self.assertIn(reason, status.stdout)
                return
            time.sleep(0.2)
        raise AssertionError(f"{device} did not reject ({reason}): {site.deployment(device)}")

    # ---- lossy link, confidentiality ----

    def test_a_deployment_completes_byte_exact_over_a_lossy_reordering_link(self):
        site = self.site()
        relay, uri = self.relay(site, "--loss", "0.2", "--reorder", "0.1", "--duplicate",
                                "0.05", "--delay-ms", "10", "--seed", "20")
        site.provision("lossy-1", coap_uri=uri)
        site.start_node("lossy-1")
        site.deploy(site.pack(site.model("l", "45,96,32,96,45", 9), "vib-l", 1), "lossy-1")
        site.wait_state("confirmed", "lossy-1", timeout=240)
        attested = site.ctl("attest", "--device", "lossy-1", "--wait", "60")
        self.assertIn("match", attested.stdout)

    def test_the_payload_is_ciphertext_on_the_wire_and_in_flash(self):
        site = self.site(insecure=True)  # plain CoAP, so the capture sees CoAP payloads
        capture = os.path.join(self.workdir, "wire.cap")
        relay, uri = self.relay(site, capture=capture)
        site.provision("secret-1", coap_uri=uri)
        site.start_node("secret-1")
        model = site.model("s", "45,64,16,64,45", 10)
        site.deploy(site.pack(model, "vib-s", 1), "secret-1")
        site.wait_state("confirmed", "secret-1")
        relay.stop()
        with open(model, "rb") as f:
            plaintext = f.read()
        with open(capture, "rb") as f:
            wire = f.read()
        with open(os.path.join(self.workdir, "secret-1.flash"), "rb") as f:
            flash = f.read()
        self.assertGreater(len(wire), len(plaintext))  # the payload crossed the wire
        windows = high_entropy_windows(plaintext)
        self.assertGreater(len(windows), len(plaintext) // 16)
        for i in windows:
            self.assertNotIn(plaintext[i:i + 16], wire, f"plaintext offset {i} on the wire")
            self.assertNotIn(plaintext[i:i + 16], flash, f"plaintext offset {i} in flash")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--node", required=True)
    parser.add_argument("--ctl", required=True)
    parser.add_argument("--make-model", required=True)
    parser.add_argument("--linkemu", required=True)
    args, rest = parser.parse_known_args()
    GATEWAY, NODE, CTL = args.gateway, args.node, args.ctl
    MAKE_MODEL, LINKEMU = args.make_model, args.linkemu
    unittest.main(argv=[sys.argv[0]] + rest)
