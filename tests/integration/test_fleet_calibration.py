"""Integration: one model for machines that differ (docs/firmware/calibration.md), with real
processes. spindle-train trains an autoencoder on three simulated machines; spindlectl packs it
with its per-machine calibration and deploys it to five nodes simulating five other machines;
each node calibrates on its own machine (no alarm while it does, and says so), then runs
healthy and then with a fault. From the gateway's telemetry, every one of the five meets the
targets: false alarms <= 1 % on its healthy windows, ROC-AUC >= 0.97 of its fault windows
against them. The calibration survives the node's restart (the fault phase is a new
process on the same flash)."""
import argparse
import shutil
import sys
import tempfile
import time
import unittest

import node_harness as h
from fleet_harness import FleetSite

GATEWAY = NODE = CTL = TRAIN = None
# Five machines none of which the training saw, each with the fault it develops.
MACHINES = {"m-3001": (3001, "imbalance"), "m-3002": (3002, "misalignment"),
            "m-3003": (3003, "looseness"), "m-3004": (3004, "bearing-outer"),
            "m-3005": (3005, "bearing-inner")}
NORMALIZATION, THRESHOLD = 120, 120  # the calibration period, windows
HEALTHY_TEST, FAULT_TEST = 200, 80   # windows scored after it


def roc_auc(positive, negative):
    """Mann-Whitney U over all pairs (ties one half)."""
    wins = 0.0
    for p in positive:
        for n in negative:
            wins += 1.0 if p > n else 0.5 if p == n else 0.0
    return wins / (len(positive) * len(negative))


class FleetCalibrationTest(unittest.TestCase):
    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="spindle-fleet-")
        self.site = FleetSite(self.workdir, GATEWAY, NODE, CTL, TRAIN)
        self.processes = {}

    def tearDown(self):
        for process in self.processes.values():
            h.stop_process(process)
        self.site.stop()
        if hasattr(self, "_outcome") and all(e is None for _, e in
                                              getattr(self._outcome, "errors", [])):
            shutil.rmtree(self.workdir, ignore_errors=True)

    @property
    def gateway(self):
        return self.site.gateway

    def start_node(self, device, *extra):
        self.processes[device] = self.site.start_node(device, MACHINES[device][0], *extra)

    def log(self, device):
        return self.site.log(device)

    def readings(self, device, since=0.0):
        """(time, score, anomaly, calibrating) of every scored window since `since`."""
        by_seq = {}
        for name in ("score", "anomaly", "calibrating"):
            for r in self.gateway.telemetry(device, name):
                if r["time"] >= since:
                    by_seq.setdefault(r["seq"], {"time": r["time"]})[name] = r["value"]
        return [(v["time"], v["score"], v.get("anomaly") is True, v.get("calibrating") is True)
                for _, v in sorted(by_seq.items()) if "score" in v]

    def test_a_model_trained_on_three_machines_meets_the_targets_on_five_others(self):
        # Train on machines 1-3, per machine, with the node's calibration period.
        model = self.site.train(400, NORMALIZATION, THRESHOLD)
        self.site.start_gateway()
        devices = sorted(MACHINES)
        out = self.site.provision_and_deploy(model, devices)
        self.assertIn("per-machine calibration", out)

        # Healthy: each node activates the model, calibrates, then keeps running healthy.
        for d in devices:
            self.start_node(d)
        for d in devices:
            h.wait_for(lambda d=d: "alarms on" in self.log(d), 180, f"{d} calibrated")
        calibrated_at = time.time()
        for d in devices:
            h.wait_for(lambda d=d: sum(1 for r in self.readings(d)
                                       if not r[3]) >= HEALTHY_TEST + 10, 180,
                       f"{d} healthy windows after calibration")
        for d in devices:
            h.stop_process(self.processes.pop(d))

        # The fault: a new process on the same flash, so the calibration must persist.
        fault_from = time.time()
        for d in devices:
            _, fault = MACHINES[d]
            self.start_node(d, "--fault", fault, "--severity", "0.3")
        for d in devices:
            h.wait_for(lambda d=d: len(self.readings(d, fault_from)) >= FAULT_TEST, 180,
                       f"{d} fault windows")
            self.assertIn("resumed (calibrated", self.log(d))

        for d in devices:
            everything = self.readings(d)
            calibrating = [r for r in everything if r[3]]
            self.assertGreaterEqual(len(calibrating), NORMALIZATION + THRESHOLD - 5, d)
            self.assertFalse(any(r[2] for r in calibrating), f"{d} alarmed while calibrating")
            healthy = [r[1] for r in everything if not r[3] and r[0] < fault_from - 1.0]
            faulty = [r[1] for r in self.readings(d, fault_from)]
            self.assertFalse(any(r[3] for r in self.readings(d, fault_from)),
                             f"{d} calibrates again after a restart")
            flagged = sum(1 for r in everything
                          if not r[3] and r[0] < fault_from - 1.0 and r[2])
            false_alarms = flagged / len(healthy)
            auc = roc_auc(faulty, healthy)
            print(f"{d} ({MACHINES[d][1]}): {len(healthy)} healthy windows, false alarms "
                  f"{100 * false_alarms:.2f} %, {len(faulty)} fault windows, ROC-AUC {auc:.4f}",
                  file=sys.stderr)
            self.assertLessEqual(false_alarms, 0.01, d)
            self.assertGreaterEqual(auc, 0.97, d)
            # The gateway knows: the node's calibration report, and drift judged against it.
            view = self.gateway.api("GET", f"/api/v1/devices/{d}", expect=200)
            calibration = view["calibration"]
            self.assertEqual(calibration["state"], "calibrated", d)
            self.assertEqual(calibration["model_id"], "fleet-ae")
            self.assertEqual(calibration["generation"], 1)
            self.assertEqual(calibration["windows_done"], NORMALIZATION + THRESHOLD)
            self.assertEqual(calibration["windows_total"], NORMALIZATION + THRESHOLD)
            drift = self.gateway.api("GET", f"/api/v1/devices/{d}/drift", expect=200)
            self.assertEqual(drift["reference"], "calibration", d)
        # Healthy machines did not drift from their own calibration before the faults.
        for event in self.gateway.events(kind="drift"):
            self.assertGreaterEqual(event["time_ms"] / 1000.0, fault_from - 1.0, event)
        del calibrated_at


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--node", required=True)
    parser.add_argument("--ctl", required=True)
    parser.add_argument("--train", required=True)
    args, rest = parser.parse_known_args()
    GATEWAY, NODE, CTL, TRAIN = args.gateway, args.node, args.ctl, args.train
    unittest.main(argv=[sys.argv[0]] + rest)
