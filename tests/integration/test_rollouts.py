"""Integration: staged rollouts (docs/gateway/rollouts.md) with real processes: a gateway,
spindlectl and simulated nodes on loopback.

- Twelve nodes in two tagged groups run v1. A good v2 goes canary -> waves -> all, each
  stage released only after its soak, across a gateway killed with SIGKILL at each stage
  boundary: no stage is released twice or skipped. A bad v3 (its threshold makes healthy
  machines alarm) is halted at the canary by the anomaly-rate gate: no device outside the
  canary ever receives its manifest, and with auto-revert the canary devices end on v2,
  attested.
- Shadow: a candidate equal to the active model agrees on 100 % of windows; one with a lower
  threshold reports the measured disagreement and is halted by the shadow gate and
  discarded; promotion of the equal one makes it active with no second download.
- A candidate that one board cannot take halts the rollout by install success.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time
import unittest

import gateway_harness as g
import node_harness as h
from fleet_harness import FleetSite, run

GATEWAY = NODE = CTL = MAKE_MODEL = None
KID = "ops-key"
GOOD_THRESHOLD = "1000"  # far above any score of the untrained model: no healthy alarm
BAD_THRESHOLD = "0.000001"  # below every score: every window alarms


class RolloutSite(FleetSite):
    def model(self, name, layers, seed):
        path = self.path(name + ".bin")
        run(MAKE_MODEL, "--layers", layers, "--seed", seed, "--out", path)
        return path

    def pack(self, model, version, threshold, board="native_sim", model_id="vib-ae"):
        out = self.path(f"{model_id}-{version}-{board}.spkg")
        run(self.ctl_bin, "pack", "--model", model, "--model-id", model_id, "--version",
            version, "--board", board, "--threshold", threshold, "--signing-key",
            self.path(KID + ".key"), "--kid", KID, "--out", out)
        return out

    def provision(self, devices):
        args = [a for d in devices for a in ("--device", d)]
        self.ctl("provision", *args, "--coap-uri", self.gateway.coap_uri, "--trust-key",
                 f"{KID}={self.path(KID + '.pub')}", "--out-dir", self.workdir)

    def deploy(self, package, devices):
        args = [a for d in devices for a in ("--device", d)]
        self.ctl("deploy", "--package", package, "--signing-key", self.path(KID + ".key"),
                 "--kid", KID, *args)

    def wait_state(self, state, devices, timeout=120):
        args = [a for d in devices for a in ("--device", d)]
        self.ctl("status", *args, "--wait-state", state, "--timeout", timeout,
                 timeout=timeout + 30)

    def start_rollout(self, package, *args):
        out = self.ctl("rollout", "start", "--package", package, "--signing-key",
                       self.path(KID + ".key"), "--kid", KID, *args)
        return int(out.split()[1].rstrip(":"))

    def rollout(self, rollout_id):
        return self.gateway.api("GET", f"/api/v1/rollouts/{rollout_id}", expect=200)

    def deployments(self, device):
        return self.gateway.api("GET", f"/api/v1/devices/{device}/deployments",
                                expect=200)["deployments"]

    def start_node(self, device, machine, *extra):
        log = open(self.path(device + ".log"), "a")
        args = [self.node_bin, "--provision", self.path(device + ".provision"),
                "--flash", self.path(device + ".flash"), "--machine", str(machine),
                "--speed", "4", "--health-windows", "6", "--lifetime", "60",
                "--log-level", "info", *extra]
        process = h.subprocess.Popen(args, stdout=log, stderr=h.subprocess.STDOUT)
        log.close()
        return process


def versions_deployed(site, device, model_id="vib-ae"):
    return [d["version"] for d in site.deployments(device) if d["model_id"] == model_id]


class RolloutTest(unittest.TestCase):
    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="spindle-rollout-")
        self.site = RolloutSite(self.workdir, GATEWAY, NODE, CTL, None)
        self.nodes = {}

    def tearDown(self):
        for process in self.nodes.values():
            h.stop_process(process)
        self.site.stop()
        if hasattr(self, "_outcome") and all(e is None for _, e in
                                              getattr(self._outcome, "errors", [])):
            shutil.rmtree(self.workdir, ignore_errors=True)

    def start_site(self, devices, boards=None):
        self.site.start_gateway("--rollout-interval-ms", "250")
        self.site.provision(devices)
        for i, d in enumerate(devices):
            extra = ["--board", boards[d]] if boards and d in boards else []
            self.nodes[d] = self.site.start_node(d, 100 + i, *extra)

    def wait_rollout(self, rollout_id, done, timeout=180, what="the rollout"):
        deadline = time.time() + timeout
        view = None
        while time.time() < deadline:
            view = self.site.rollout(rollout_id)
            if done(view):
                return view
            time.sleep(0.25)
        self.fail(f"{what} did not happen in {timeout} s: {view}")

    def released_at(self, view):
        return {d["device"]: d["released_ms"] for d in view["devices"] if d["released_ms"]}

    def test_good_candidate_goes_stage_by_stage_and_a_bad_one_halts_at_the_canary(self):
        devices = [f"pump-{i:02d}" for i in range(1, 13)]
        self.start_site(devices)
        for i, d in enumerate(devices):
            self.site.ctl("tags", d, "--set", "fleet=test", "--set",
                          f"group={'a' if i < 6 else 'b'}")
        self.assertEqual(self.site.ctl("tags", "--selector", "group=b").split("\n")[0].split()[0],
                         "pump-07")
        model = self.site.model("ae", "45,16,8,16,45", 1)
        self.site.deploy(self.site.pack(model, 1, GOOD_THRESHOLD), devices)
        self.site.wait_state("confirmed", devices)

        # v2, good: 2 canaries, then half, then all, each stage after a 4 s soak; the gateway
        # is killed at every stage boundary.
        soak_s = 4
        v2 = self.site.pack(model, 2, GOOD_THRESHOLD)
        rollout = self.site.start_rollout(v2, "--selector", "fleet=test", "--stages",
                                          "2,50%,100%", "--soak", soak_s, "--gate",
                                          "min_windows=20", "--auto-revert")
        for stage in (1, 2):
            self.wait_rollout(rollout, lambda v, s=stage: v["stage"] >= s,
                              what=f"stage {stage}")
            self.site.gateway.kill()
            self.site.gateway.start()
        view = self.wait_rollout(rollout, lambda v: v["phase"] == "completed", timeout=240)
        self.assertEqual(view["stage"], 3)
        released = self.released_at(view)
        self.assertEqual(sorted(released), devices)
        by_stage = {}
        for d in view["devices"]:
            by_stage.setdefault(d["stage"], []).append(released[d["device"]])
        self.assertEqual([len(by_stage[s]) for s in (1, 2, 3)], [2, 4, 6])
        for stage in (2, 3):
            self.assertGreaterEqual(min(by_stage[stage]) - max(by_stage[stage - 1]),
                                    soak_s * 1000, f"stage {stage} released before its soak")
        for d in devices:
            # Exactly one v2 deployment each: no stage released twice.
            self.assertEqual(versions_deployed(self.site, d).count(2), 1, d)
        self.site.wait_state("confirmed", devices)

        # v3, bad: every healthy window alarms. Halted at the 2-device canary.
        v3 = self.site.pack(model, 3, BAD_THRESHOLD)
        rollout = self.site.start_rollout(v3, "--selector", "fleet=test", "--stages",
                                          "2,100%", "--soak", 30, "--gate", "min_windows=20",
                                          "--auto-revert")
        view = self.wait_rollout(rollout, lambda v: v["phase"] == "halted", timeout=120,
                                 what="the halt")
        self.assertEqual(view["halted_gate"], "anomaly-rate", view)
        canary = sorted(self.released_at(view))
        self.assertEqual(len(canary), 2)
        self.assertEqual(self.site.gateway.events(kind="rollout-halted")[-1]["kind"],
                         "rollout-halted")
        # The devices sent back end on v2, confirmed; nobody outside the canary got v3.
        self.wait_rollout(rollout, lambda v: all(d["step"] in ("waiting", "restored")
                                                 for d in v["devices"]),
                          timeout=120, what="the revert")
        for d in devices:
            self.assertEqual(3 in versions_deployed(self.site, d), d in canary, d)
        for d in canary:
            view = self.site.gateway.api("GET", f"/api/v1/devices/{d}", expect=200)
            self.assertEqual(view["deployment"]["version"], 2)
            # It ran v3 and went back on the signed revert, not by a re-deployment alone.
            v3_states = [x["state"] for x in self.site.deployments(d) if x["version"] == 3]
            self.assertEqual(v3_states, ["rolled-back"], d)
            self.assertIn("vib-ae v3: rolled-back", self.site.log(d))
        self.site.ctl("attest", *[a for d in canary for a in ("--device", d)], "--wait", "60",
                      timeout=90)
        for d in canary:
            view = self.site.gateway.api("GET", f"/api/v1/devices/{d}", expect=200)
            self.assertEqual(view["attestation"]["verdict"], "match", view["attestation"])
        metric = self.site.gateway.metric("spindle_rollout_halts_total", 'gate="anomaly-rate"')
        self.assertEqual(metric, 1)

    def test_shadow_agreement_promotion_without_download_and_an_install_failure_halts(self):
        devices = ["shadow-1", "shadow-2", "small-1"]
        self.start_site(devices, boards={"small-1": "nucleo_l476rg"})
        model = self.site.model("ae", "45,16,8,16,45", 2)
        self.site.deploy(self.site.pack(model, 1, GOOD_THRESHOLD), devices[:2])
        self.site.deploy(self.site.pack(model, 1, GOOD_THRESHOLD, board="nucleo_l476rg",
                                        model_id="vib-small"), devices[2:])
        self.site.wait_state("confirmed", devices)

        # The same model in shadow at the same threshold: 100 % agreement, then promoted.
        equal = self.site.pack(model, 2, GOOD_THRESHOLD)
        rollout = self.site.start_rollout(equal, "--device", "shadow-1", "--stages", "1",
                                          "--soak", 3, "--shadow", "--gate", "min_windows=20")
        view = self.wait_rollout(rollout, lambda v: v["phase"] == "completed", timeout=120)
        shadow = self.site.gateway.api("GET", "/api/v1/devices/shadow-1", expect=200)
        report = shadow.get("shadow")
        self.assertIsNotNone(report, shadow)
        self.assertGreater(report["compared"], 0)
        self.assertEqual(report["agreed"], report["compared"])
        self.assertEqual(shadow["deployment"]["version"], 2)
        self.assertEqual(shadow["deployment"]["state"], "confirmed")
        log = self.site.log("shadow-1")
        self.assertEqual(log.count("vib-ae v2: downloaded"), 1, "the promotion fetched it again")

        # A lower threshold in shadow disagrees: measured, halted by the shadow gate, and
        # discarded (auto-revert); shadow-2 keeps running v1.
        low = self.site.pack(model, 3, "0.000001")
        rollout = self.site.start_rollout(low, "--device", "shadow-2", "--stages", "1",
                                          "--soak", 30, "--shadow", "--gate", "min_windows=20",
                                          "--auto-revert")
        view = self.wait_rollout(rollout, lambda v: v["phase"] == "halted", timeout=120)
        self.assertIn(view["halted_gate"], ("shadow-agreement", "anomaly-rate"), view)
        report = self.site.gateway.api("GET", "/api/v1/devices/shadow-2", expect=200)["shadow"]
        self.assertLess(report["agreed"], report["compared"])
        self.wait_rollout(rollout, lambda v: v["devices"][0]["step"] == "restored",
                          timeout=60, what="the discard")
        device = self.site.gateway.api("GET", "/api/v1/devices/shadow-2", expect=200)
        self.assertEqual(device["deployment"]["version"], 1)

        # A candidate the small board cannot take halts by install success.
        v4 = self.site.pack(model, 4, GOOD_THRESHOLD)
        rollout = self.site.start_rollout(v4, "--device", "small-1", "--device", "shadow-2",
                                          "--stages", "2", "--soak", 3, "--gate",
                                          "min_windows=20")
        view = self.wait_rollout(rollout, lambda v: v["phase"] == "halted", timeout=60)
        self.assertEqual(view["halted_gate"], "install-success", view)

    def test_gated_activation_window_and_idle(self):
        devices = ["gate-in", "gate-out"]
        self.start_site(devices)
        model = self.site.model("ae", "45,16,8,16,45", 3)
        self.site.deploy(self.site.pack(model, 1, GOOD_THRESHOLD), devices)
        self.site.wait_state("confirmed", devices)

        # v2 with a maintenance window: one that holds now (UTC) and one 12 h away.
        v2 = self.site.pack(model, 2, GOOD_THRESHOLD)
        now = time.gmtime()
        minute = now.tm_hour * 60 + now.tm_min

        def window(start, length):
            end = (start + length) % 1440
            start %= 1440
            return f"window:{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}"

        for device, start in (("gate-in", minute - 10), ("gate-out", minute + 720)):
            self.site.ctl("deploy", "--package", v2, "--signing-key", self.site.path(KID + ".key"),
                          "--kid", KID, "--device", device, "--activation", window(start, 60))
        self.site.wait_state("confirmed", ["gate-in"], timeout=60)
        self.site.wait_state("awaiting-activation", ["gate-out"], timeout=60)

        # Across a reset it keeps waiting, v1 running, v2 verified in the other slot (the
        # registration the node sends at boot shows both).
        h.stop_process(self.nodes["gate-out"])
        self.nodes["gate-out"] = self.site.start_node("gate-out", 0, "--stopped-s", "40-400")
        deadline = time.time() + 30
        device = None
        while time.time() < deadline:
            device = self.site.gateway.api("GET", "/api/v1/devices/gate-out", expect=200)
            reg = device.get("registration")
            if reg and reg["active_slot"] is not None:
                slots = reg["slots"]
                active = slots[reg["active_slot"]]
                other = slots[1 - reg["active_slot"]]
                if active["version"] == 1 and other["version"] == 2:
                    break
            time.sleep(0.25)
        self.assertEqual(active["state"], "active", device)
        self.assertEqual(other["state"], "verified", device)
        self.assertEqual(device["deployment"]["state"], "awaiting-activation", device)
        self.assertEqual(device["deployment"]["version"], 2, device)
        log = self.site.log("gate-out")
        self.assertEqual(log.count("vib-ae v2: downloaded"), 1, "the reset fetched it again")
        self.assertNotIn("vib-ae v2: activated", log)

        # Idle: v3 replaces the waiting v2 and switches only once the machine (the reference
        # machine, stopped from 40 s of simulated time at --speed 4) has stood still.
        v3 = self.site.pack(model, 3, GOOD_THRESHOLD)
        self.site.ctl("deploy", "--package", v3, "--signing-key", self.site.path(KID + ".key"),
                      "--kid", KID, "--device", "gate-out", "--activation", "idle")
        self.site.wait_state("confirmed", ["gate-out"], timeout=60)
        log = self.site.log("gate-out")
        self.assertIn("vib-ae v3: awaiting-activation", log)
        self.assertIn("vib-ae v3: activated (ok) machine idle", log)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--node", required=True)
    parser.add_argument("--ctl", required=True)
    parser.add_argument("--make-model", required=True)
    args, rest = parser.parse_known_args()
    global GATEWAY, NODE, CTL, MAKE_MODEL
    GATEWAY, NODE, CTL, MAKE_MODEL = args.gateway, args.node, args.ctl, args.make_model
    unittest.main(argv=[sys.argv[0]] + rest)


if __name__ == "__main__":
    main()
