"""spindlectl as a process: usage errors exit 2 and failures 1, each naming the fix; and an
operator session against a real spindle-gateway on loopback (keygen, provision, pack, push,
deploy, status). Every wait is bounded."""
import argparse
import json
import os
import stat
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "integration"))
from gateway_harness import Gateway  # noqa: E402

ARGS = None


def run(*args, expect=None):
    """(exit status, stdout, stderr) of one spindlectl run."""
    done = subprocess.run([ARGS.spindlectl, *args], capture_output=True, text=True, timeout=60)
    if expect is not None and done.returncode != expect:
        raise AssertionError(f"spindlectl {' '.join(args)}: exit {done.returncode}, expected "
                             f"{expect}\nstdout: {done.stdout}\nstderr: {done.stderr}")
    return done.returncode, done.stdout, done.stderr


def make_model(path, layers="45,16,8,16,45"):
    subprocess.run([ARGS.make_model, "--layers", layers, "--seed", "1", "--out", path],
                   check=True, capture_output=True, timeout=60)
    return path


class Offline(unittest.TestCase):
    """What needs no gateway."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def path(self, name):
        return os.path.join(self.dir, name)

    def test_usage_errors_exit_2(self):
        self.assertEqual(run()[0], 2)
        code, _, err = run("frobnicate")
        self.assertEqual(code, 2)
        self.assertIn("unknown command 'frobnicate'", err)
        code, _, err = run("keygen", "--kid", "k")
        self.assertEqual(code, 2)
        self.assertIn("out-dir", err)
        code, _, err = run("provision", "--device", "bad id", "--trust-key", "k=x",
                           "--out-dir", self.dir, "--token-file", "t")
        self.assertEqual(code, 2)
        self.assertIn("--device 'bad id' is not a device id", err)
        code, _, err = run("status", "--wait-state", "done", "--token-file", "t")
        self.assertEqual(code, 2)
        self.assertIn("'done' is not a deployment state", err)
        code, _, err = run("status")
        self.assertEqual(code, 2)
        self.assertIn("--token-file is required", err)

    def test_provision_refuses_what_a_node_could_not_read_before_asking_the_gateway(self):
        run("keygen", "--kid", "op-1", "--out-dir", self.dir, expect=0)
        trust = f"op-1={self.path('op-1.pub')}"
        common = ("--device", "node-1", "--out-dir", self.path("out"), "--token-file", "t")
        code, _, err = run("provision", *common, "--trust-key", trust, "--trust-key", trust)
        self.assertEqual(code, 2)
        self.assertIn("--trust-key op-1 is given twice", err)
        code, _, err = run("provision", *common, "--trust-key", trust,
                           "--coap-uri", "coaps://gateway example:5684")
        self.assertEqual(code, 2)
        self.assertIn("must start with coaps:// or coap://", err)
        self.assertFalse(os.path.exists(self.path("out")))

    def test_help_exits_0(self):
        code, out, _ = run("--help")
        self.assertEqual(code, 0)
        for command in ("keygen", "provision", "pack", "push", "deploy", "status", "attest"):
            self.assertIn(command, out)
            code, out_command, _ = run(command, "--help")
            self.assertEqual(code, 0)
            self.assertIn(f"usage: spindlectl {command}", out_command)

    def test_keygen_writes_the_gateways_format_and_refuses_to_overwrite(self):
        run("keygen", "--kid", "op-1", "--out-dir", self.dir, expect=0)
        key, pub = self.path("op-1.key"), self.path("op-1.pub")
        self.assertEqual(stat.S_IMODE(os.stat(key).st_mode), 0o600)
        with open(key) as f:
            self.assertRegex(f.read(), r"^[0-9a-f]{64}\n$")
        with open(pub) as f:
            self.assertRegex(f.read(), r"^04[0-9a-f]{128}\n$")
        code, _, err = run("keygen", "--kid", "op-1", "--out-dir", self.dir)
        self.assertEqual(code, 1)
        self.assertIn("already exists", err)
        self.assertIn("--force", err)
        with open(key) as f:
            before = f.read()
        run("keygen", "--kid", "op-1", "--out-dir", self.dir, "--force", expect=0)
        with open(key) as f:
            self.assertNotEqual(f.read(), before)

    def test_pack_refuses_without_a_signing_key(self):
        model = make_model(self.path("m.bin"))
        code, _, err = run("pack", "--model", model, "--model-id", "m", "--version", "1",
                           "--board", "native_sim", "--out", self.path("m.spkg"))
        self.assertEqual(code, 2)
        self.assertIn("needs --signing-key", err)
        self.assertFalse(os.path.exists(self.path("m.spkg")))

    def test_pack_refuses_a_model_over_the_boards_budget(self):
        run("keygen", "--kid", "op-1", "--out-dir", self.dir, expect=0)
        model = make_model(self.path("big.bin"), "45,1200,45")
        code, _, err = run("pack", "--model", model, "--model-id", "m", "--version", "1",
                           "--board", "nrf52840dk", "--signing-key", self.path("op-1.key"),
                           "--kid", "op-1", "--out", self.path("m.spkg"))
        self.assertEqual(code, 1)
        self.assertIn("CONFIG_MODEL_ARENA_SIZE=16384", err)
        code, _, err = run("pack", "--model", model, "--model-id", "m", "--version", "1",
                           "--board", "no-such-board", "--signing-key", self.path("op-1.key"),
                           "--kid", "op-1", "--out", self.path("m.spkg"))
        self.assertEqual(code, 2)
        self.assertIn("no-such-board/board.conf", err)

    def test_unreachable_gateway_is_a_failure(self):
        token = self.path("token")
        with open(token, "w") as f:
            f.write("0123456789abcdef0123\n")
        code, _, err = run("status", "--api", "http://127.0.0.1:1", "--token-file", token)
        self.assertEqual(code, 1)
        self.assertIn("cannot reach the gateway at http://127.0.0.1:1", err)


class Session(unittest.TestCase):
    """An operator session against one gateway."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dir = cls.tmp.name
        run("keygen", "--kid", "op-1", "--out-dir", cls.dir, expect=0)
        cls.pub = os.path.join(cls.dir, "op-1.pub")
        cls.key = os.path.join(cls.dir, "op-1.key")
        cls.gateway = Gateway(ARGS.gateway, cls.dir, insecure=True,
                              trust_keys=[("op-1", cls.pub)])
        cls.gateway.start()
        cls.api = ["--api", f"http://127.0.0.1:{cls.gateway.http_port}",
                   "--token-file", os.path.join(cls.gateway.data_dir, "api-token")]
        cls.model = make_model(os.path.join(cls.dir, "m.bin"))

    @classmethod
    def tearDownClass(cls):
        cls.gateway.stop()
        cls.tmp.cleanup()

    def pack(self, version, out):
        run("pack", "--model", self.model, "--model-id", "vib-ae", "--version", str(version),
            "--board", "native_sim", "--signing-key", self.key, "--kid", "op-1", "--out", out,
            expect=0)
        return out

    def test_provision_writes_the_node_provisioning_file(self):
        out = os.path.join(self.dir, "prov")
        _, stdout, _ = run("provision", "--device", "node-1", "--device", "node-2",
                           "--coap-uri", self.gateway.coap_uri, "--trust-key", f"op-1={self.pub}",
                           "--out-dir", out, *self.api, expect=0)
        self.assertIn("node-1: provisioned", stdout)
        keys = self.gateway.provision("node-1")["node-1"]
        path = os.path.join(out, "node-1.provision")
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        with open(path) as f:
            lines = dict(line.split("=", 1) for line in f.read().splitlines()
                         if line and not line.startswith("#"))
        with open(self.pub) as f:
            pub = f.read().strip()
        self.assertEqual(lines, {"device_id": "node-1", "gateway": self.gateway.coap_uri,
                                 "psk": keys["psk"], "model_kek": keys["model_kek"],
                                 "attestation_key": keys["attestation_key"],
                                 "trust_key": f"op-1:{pub}"})
        # Idempotent: the same keys again.
        _, stdout, _ = run("provision", "--device", "node-1", "--trust-key", f"op-1={self.pub}",
                           "--coap-uri", self.gateway.coap_uri, "--out-dir", out, *self.api,
                           expect=0)
        self.assertIn("node-1: already provisioned", stdout)

    def test_push_is_idempotent_and_checks_the_signature(self):
        package = self.pack(1, os.path.join(self.dir, "push.spkg"))
        _, out, err = run("push", "--package", package, "--trust-key", f"op-1={self.pub}",
                          *self.api, expect=0)
        self.assertIn("uploaded", out)
        self.assertIn("bytes (100%)", err)
        digest = out.split()[2]
        models = self.gateway.api("GET", "/api/v1/models", expect=200)["models"]
        self.assertIn(digest, [m["digest"] for m in models])
        _, out, _ = run("push", "--package", package, *self.api, expect=0)
        self.assertIn("already on the gateway", out)
        # A package signed by a key the operator does not trust is not pushed.
        run("keygen", "--kid", "op-1", "--out-dir", os.path.join(self.dir, "other"), expect=0)
        code, _, err = run("push", "--package", package, "--trust-key",
                           f"op-1={os.path.join(self.dir, 'other', 'op-1.pub')}", *self.api)
        self.assertEqual(code, 1)
        self.assertIn("signature does not verify", err)
        # A damaged package is not pushed either.
        with open(package, "rb") as f:
            data = bytearray(f.read())
        data[-5] ^= 1
        damaged = os.path.join(self.dir, "damaged.spkg")
        with open(damaged, "wb") as f:
            f.write(data)
        code, _, err = run("push", "--package", damaged, *self.api)
        self.assertEqual(code, 1)
        self.assertIn("does not match its signed digest", err)

    def test_wrong_token_names_the_token_file(self):
        token = os.path.join(self.dir, "wrong-token")
        with open(token, "w") as f:
            f.write("not-the-token-0123456789\n")
        code, _, err = run("status", "--api", f"http://127.0.0.1:{self.gateway.http_port}",
                           "--token-file", token)
        self.assertEqual(code, 1)
        self.assertIn("refused the API token", err)

    def test_deploy_and_status(self):
        self.gateway.provision("dev-a", "dev-b")
        package = self.pack(5, os.path.join(self.dir, "deploy.spkg"))
        code, _, err = run("deploy", "--package", package, "--signing-key", self.key, "--kid",
                           "op-1", "--device", "typo-9", *self.api)
        self.assertEqual(code, 1)
        if "has no GET" in err:
            self.skipTest("this gateway has no GET /api/v1/devices/{id}/keys yet")
        self.assertIn("device typo-9 is not provisioned: run spindlectl provision --device typo-9",
                      err)
        _, out, err = run("deploy", "--package", package, "--signing-key", self.key, "--kid",
                          "op-1", "--device", "dev-a", "--device", "dev-b", *self.api, expect=0)
        self.assertIn("pushing it first", err)
        self.assertIn("[2/2] dev-b: manifest signed", err)
        self.assertRegex(out, r"dev-a: deployment \d+, vib-ae v5")
        self.assertRegex(out, r"dev-b: deployment \d+, vib-ae v5")
        # The same version again is a conflict, with the fix.
        code, _, err = run("deploy", "--package", package, "--signing-key", self.key, "--kid",
                           "op-1", "--device", "dev-a", *self.api)
        self.assertEqual(code, 1)
        self.assertIn("higher --version", err)
        _, out, _ = run("status", "--device", "dev-a", "--device", "dev-b", *self.api, expect=0)
        self.assertRegex(out, r"dev-a\s+no\s+vib-ae\s+5\s+pending")
        # No calibration report yet: the calibration columns are there, each "-".
        self.assertRegex(out, r"ATTESTATION\s+CALIBRATION\s+WINDOWS\s+THRESHOLD")
        self.assertRegex(out, r"(?m)^dev-a\s+no\s+vib-ae\s+5\s+pending.*-\s+-\s+-\s+-\s*$")
        # No node runs here: the wait times out, with the table and what it waited for.
        code, out, err = run("status", "--device", "dev-a", "--wait-state", "confirmed",
                             "--timeout", "1", *self.api)
        self.assertEqual(code, 1)
        self.assertIn("dev-a is pending", err)
        self.assertIn("DEVICE", out)

    def test_status_of_an_unknown_device_says_how_to_provision_it(self):
        code, _, err = run("status", "--device", "ghost", *self.api)
        self.assertEqual(code, 1)
        self.assertIn("device ghost is not provisioned: run spindlectl provision --device ghost",
                      err)

    def test_attest_prints_the_nonce_and_waits_for_a_verdict(self):
        self.gateway.provision("att-1")
        _, out, _ = run("attest", "--device", "att-1", *self.api, expect=0)
        self.assertRegex(out, r"att-1: attestation requested, nonce [0-9a-f]{32}")
        # No node answers here: the wait ends in a timeout that says what it waited for.
        code, _, err = run("attest", "--device", "att-1", "--wait", "1", *self.api)
        self.assertEqual(code, 1)
        self.assertIn("waiting for the attestation of att-1", err)
        code, _, err = run("attest", "--device", "ghost-2", *self.api)
        self.assertEqual(code, 1)
        self.assertIn("device ghost-2 is not provisioned", err)

    def test_capture_wait_waits_for_the_open_data_set_or_says_there_is_none(self):
        self.gateway.provision("cap-1")
        code, _, err = run("capture", "cap-1", "--wait", "--timeout", "1", *self.api)
        self.assertEqual(code, 1)
        self.assertIn("device cap-1 has no data set being collected", err)
        code, _, err = run("capture", "cap-1", "--label", "x", "--wait", *self.api)
        self.assertEqual(code, 2)
        self.assertIn("give --windows too", err)
        _, out, _ = run("capture", "cap-1", "--windows", "3", "--label", "healthy", *self.api,
                        expect=0)
        self.assertIn("cap-1: data set", out)
        data_set = out.split("data set ")[1].split(" ")[0]
        # No node uploads here: each way of waiting finds the data set and times out on it.
        code, out, err = run("capture", "cap-1", "--wait", "--timeout", "1", *self.api)
        self.assertEqual(code, 1)
        self.assertIn(f"cap-1: waiting for data set {data_set} (operator, label \"healthy\")", out)
        self.assertIn(f"capture {data_set} requested: 0 of 3 features windows", err)
        code, out, err = run("capture", "wait", "--device", "cap-1", "--timeout", "1", *self.api)
        self.assertEqual(code, 1)
        self.assertIn(f"waiting for data set {data_set}", out)
        code, _, err = run("capture", "wait", data_set, "--timeout", "1", *self.api)
        self.assertEqual(code, 1)
        self.assertIn("timed out after", err)
        code, _, err = run("capture", "wait", "x", *self.api)
        self.assertEqual(code, 2)
        code, _, err = run("capture", "ghost-3", "--wait", *self.api)
        self.assertEqual(code, 1)
        self.assertIn("device ghost-3 is not provisioned", err)
        _, out, _ = run("datasets", *self.api, expect=0)
        self.assertRegex(out, rf"{data_set}\s+cap-1\s+features\s+operator\s+healthy")

    def test_calibrate_shows_and_refuses_a_reset_without_calibration(self):
        self.gateway.provision("cal-1")
        _, out, _ = run("calibrate", "cal-1", *self.api, expect=0)
        self.assertIn("cal-1: no calibration reported", out)
        code, _, err = run("calibrate", "cal-1", "--reset", *self.api)
        self.assertEqual(code, 1)
        self.assertIn("409", err)
        self.assertIn("has sent no calibration report", err)
        code, _, err = run("calibrate", "cal-1", "--wait", *self.api)
        self.assertEqual(code, 2)
        code, _, err = run("calibrate", "ghost-4", "--reset", *self.api)
        self.assertEqual(code, 1)
        self.assertIn("device ghost-4 is not provisioned", err)

    def test_status_json_lists_every_device(self):
        self.gateway.provision("json-1")
        _, out, _ = run("status", "--json", *self.api, expect=0)
        devices = json.loads(out)["devices"]
        self.assertIn("json-1", [d["id"] for d in devices])
        self.assertTrue(all("calibration" in d and d["calibration"] is None for d in devices))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--spindlectl", required=True)
    parser.add_argument("--make-model", required=True)
    parser.add_argument("--gateway", required=True)
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest)
