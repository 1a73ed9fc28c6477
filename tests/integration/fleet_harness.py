"""A site for the per-machine tests (test_fleet_calibration.py, test_drift_capture.py): a
model spindle-train trains per machine on simulated machines 1-3, an operator key, a
spindle-gateway trusting it, spindlectl, and spindle-node processes each simulating a
machine of its own (--machine), logging to <device>.log in the work directory."""
import os
import subprocess

import gateway_harness as g

KID = "ops-key"


def run(*args, timeout=300):
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True,
                            timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} exited {result.returncode}:\n"
                             f"{result.stdout}\n{result.stderr}")
    return result.stdout


class FleetSite:
    def __init__(self, workdir, gateway, node, ctl, train):
        self.workdir = workdir
        self.gateway_bin, self.node_bin, self.ctl_bin, self.train_bin = gateway, node, ctl, train
        self.gateway = None

    def path(self, name):
        return os.path.join(self.workdir, name)

    def ctl(self, *args, timeout=120):
        api = ["--api", f"http://127.0.0.1:{self.gateway.http_port}",
               "--token-file", os.path.join(self.gateway.data_dir, "api-token")]
        return run(self.ctl_bin, *args, *api, timeout=timeout)

    def train(self, windows, normalization, threshold):
        """An autoencoder trained per machine on machines 1-3 (`windows` each) with the
        node's calibration period; returns the model directory."""
        run(self.train_bin, "generate", "--board", "native_sim", "--machines", "1-3",
            "--windows", windows, "--seed", "1", "--out", self.path("train.csv"))
        model = self.path("model")
        run(self.train_bin, "fit", "--data", self.path("train.csv"), "--board", "native_sim",
            "--normalization-windows", normalization, "--threshold-windows", threshold,
            "--out-dir", model)
        return model

    def start_gateway(self, *extra):
        run(self.ctl_bin, "keygen", "--kid", KID, "--out-dir", self.workdir)
        self.gateway = g.Gateway(self.gateway_bin, self.workdir,
                                 trust_keys=[(KID, self.path(KID + ".pub"))], extra=list(extra))
        self.gateway.start()

    def provision_and_deploy(self, model, devices, model_id="fleet-ae", version=1):
        """Provisions `devices`, packs `model` with its calibration and deploys it to them;
        returns what `spindlectl pack` printed."""
        device_args = [a for d in devices for a in ("--device", d)]
        self.ctl("provision", *device_args, "--coap-uri", self.gateway.coap_uri,
                 "--trust-key", f"{KID}={self.path(KID + '.pub')}", "--out-dir", self.workdir)
        with open(os.path.join(model, "threshold")) as f:
            threshold = f.read().strip()
        package = self.path(f"{model_id}-{version}.spkg")
        out = run(self.ctl_bin, "pack", "--model", os.path.join(model, "model.spmc"),
                  "--model-id", model_id, "--version", version, "--board", "native_sim",
                  "--threshold", threshold, "--baseline", os.path.join(model, "baseline.csv"),
                  "--calibration", os.path.join(model, "calibration"), "--signing-key",
                  self.path(KID + ".key"), "--kid", KID, "--out", package)
        self.ctl("deploy", "--package", package, "--signing-key", self.path(KID + ".key"),
                 "--kid", KID, *device_args)
        return out

    def start_node(self, device, machine, *extra):
        log = open(self.path(device + ".log"), "a")
        args = [self.node_bin, "--provision", self.path(device + ".provision"),
                "--flash", self.path(device + ".flash"), "--machine", str(machine),
                "--speed", "15", "--health-windows", "8", "--log-level", "info", *extra]
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        return process

    def log(self, device):
        with open(self.path(device + ".log"), errors="replace") as f:
            return f.read()

    def stop(self):
        if self.gateway:
            self.gateway.stop()
