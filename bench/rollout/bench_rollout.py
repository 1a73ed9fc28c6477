#!/usr/bin/python3
"""bench/rollout: durable telemetry ingest with a staged rollout's gates evaluated over every
device, against the same ingest with no rollout, in one run.

  bench/rollout/bench_rollout.py --build build/native_sim [--devices 10000] [--rate 2000]
      [--duration 20] [--runs 3] [--interval-ms 1000] [--json out.json]

Set-up (untimed): one spindle-gateway (plain UDP, --insecure) gets --devices devices,
provisioned and registered by spindle-fleet; its data directory is kept as snapshot (a).
A copy of it then gets the rollout: `spindlectl rollout start` of a candidate made with
spindle-make-model and `spindlectl pack`, one stage "100%", a soak far longer than the
bench, default gates (confirm_deadline_s raised: the fleet's virtual devices never install,
so the default 600 s would halt the rollout in the middle of the bench); once the first
tick has released every device, that directory is snapshot (b). A request body is limited
to 2 MiB (gateway/api http_api.hpp max_body_bytes) and a device's signed manifest (609 bytes)
takes about 1,270 bytes of it as hex, so one POST holds about 1,650 devices and the devices
are split over several rollouts (1,500 each by default, --per-rollout): the driver steps
every unfinished rollout at each tick, so a tick does the same per-device work as for one
rollout of all of them.

Measurement: --runs times, alternately (a) then (b), a fresh copy of the snapshot is
started (--log-level debug, for the driver's "tick ... in X ms" line) and spindle-fleet
registers the devices again and posts telemetry at --rate for --duration seconds, as
bench/gateway does. Prints medians: acknowledged telemetry requests/s, p50/p99, failures,
the gateway's CPU seconds, and for (b) the driver's tick time over the telemetry phase; and
the ratio (b)/(a).
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "gateway"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration"))
from bench_gateway import run_fleet, summarize  # noqa: E402
from gateway_harness import Gateway  # noqa: E402
from node_harness import wait_for  # noqa: E402

KID = "bench-key"
TICK = re.compile(r"^(\S+) debug rollouts: tick stepped (\d+) of (\d+) rollouts in ([0-9.]+) ms")


def run(*command, timeout=600):
    result = subprocess.run([str(c) for c in command], capture_output=True, text=True,
                            timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, command))} exited {result.returncode}:\n"
                           f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return result.stdout


def cpu_seconds(pid):
    """utime + stime of a process, all its threads."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_gateway(binaries, workdir, snapshot, args):
    """A gateway on a fresh copy of `snapshot` (None: an empty data directory)."""
    gateway = Gateway(binaries["gateway"], workdir, insecure=True,
                      trust_keys=[(KID, os.path.join(args.keys, KID + ".pub"))],
                      extra=["--peer-rate", "1000", "--peer-burst", "1000",
                             "--rollout-interval-ms", str(args.interval_ms)])
    if snapshot:
        shutil.copytree(snapshot, gateway.data_dir)
    gateway.start()
    return gateway


def fleet_args(args, duration, rate=None):
    """bench_gateway.run_fleet reads its settings from an argparse namespace."""
    return argparse.Namespace(rate=rate or args.rate, duration=duration,
                              connect_rate=args.connect_rate)


def ctl(binaries, gateway, *command, timeout=600):
    return run(binaries["ctl"], *command, "--api", f"http://127.0.0.1:{gateway.http_port}",
               "--token-file", os.path.join(gateway.data_dir, "api-token"), timeout=timeout)


def make_snapshots(binaries, args, root):
    """Snapshot (a): N devices provisioned and registered. Snapshot (b): the same with the
    rollouts started and every device released. Returns their paths and the rollout ids."""
    run(binaries["ctl"], "keygen", "--kid", KID, "--out-dir", args.keys)
    setup = os.path.join(root, "setup-a")
    os.makedirs(setup)
    gateway = start_gateway(binaries, setup, None, args)
    try:
        began = time.time()
        report = run_fleet(binaries["fleet"], gateway.coap_uri, args.devices,
                           fleet_args(args, 1, rate=100), setup,
                           ["--provision-api", f"http://127.0.0.1:{gateway.http_port}",
                            "--token-file", os.path.join(gateway.data_dir, "api-token")])
        # Provisioning is what the rollout needs; every measured run registers them again.
        print(f"set-up: {args.devices} devices provisioned, "
              f"{report['devices']['registered']} registered, in {time.time() - began:.0f} s",
              flush=True)
    finally:
        gateway.stop()
    snapshot_a = os.path.join(root, "snapshot-a")
    shutil.copytree(gateway.data_dir, snapshot_a)

    setup = os.path.join(root, "setup-b")
    os.makedirs(setup)
    model = os.path.join(root, "model.bin")
    package = os.path.join(root, "candidate.spkg")
    run(binaries["make_model"], "--layers", "45,16,8,16,45", "--seed", "1", "--out", model)
    run(binaries["ctl"], "pack", "--model", model, "--model-id", "bench-ae", "--version", "1",
        "--board", "native_sim", "--threshold", "1000", "--signing-key",
        os.path.join(args.keys, KID + ".key"), "--kid", KID, "--out", package)
    devices = [f"fleet-{i:05d}" for i in range(1, args.devices + 1)]
    gateway = start_gateway(binaries, setup, snapshot_a, args)
    rollouts = []
    try:
        began = time.time()
        for first in range(0, len(devices), args.per_rollout):
            group = devices[first:first + args.per_rollout]
            out = ctl(binaries, gateway, "rollout", "start", "--package", package,
                      "--signing-key", os.path.join(args.keys, KID + ".key"), "--kid", KID,
                      "--name", f"bench-{len(rollouts) + 1}", "--stages", "100%",
                      "--soak", "86400", "--gate", "confirm_deadline_s=86400",
                      *[a for d in group for a in ("--device", d)])
            rollouts.append(int(out.split()[1].rstrip(":")))
        signed = time.time() - began

        def released():
            for rollout in rollouts:
                view = gateway.api("GET", f"/api/v1/rollouts/{rollout}", expect=200)
                if view["devices_by_step"].get("released", 0) != len(
                        view["devices"]) or view["phase"] != "running":
                    time.sleep(0.5)  # a view lists every device: do not ask too often
                    return False
            return True
        wait_for(released, 120, "every device released")
        print(f"set-up: {len(rollouts)} rollouts over {args.devices} devices started in "
              f"{signed:.0f} s (spindlectl: keys, signing, POST), all released", flush=True)
    finally:
        gateway.stop()
    snapshot_b = os.path.join(root, "snapshot-b")
    shutil.copytree(gateway.data_dir, snapshot_b)
    return snapshot_a, snapshot_b, rollouts


def ticks(log_path, since, until):
    """The driver's tick times (ms) logged between two wall-clock times."""
    out = []
    with open(log_path, errors="replace") as f:
        for line in f:
            m = TICK.match(line)
            if not m:
                continue
            at = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f").timestamp()
            if since <= at <= until:
                out.append({"stepped": int(m.group(2)), "ms": float(m.group(4))})
    return out


def measure(binaries, args, root, side, snapshot, rollouts, index):
    workdir = os.path.join(root, f"run-{side}-{index}")
    os.makedirs(workdir)
    gateway = start_gateway(binaries, workdir, snapshot, args)
    try:
        cpu_before = cpu_seconds(gateway.process.pid)
        began = time.time()
        report = run_fleet(binaries["fleet"], gateway.coap_uri, args.devices, args, workdir)
        ended = time.time()
        cpu = cpu_seconds(gateway.process.pid) - cpu_before
        phases = [r["phase"] for r in gateway.api("GET", "/api/v1/rollouts",
                                                  expect=200)["rollouts"]]
    finally:
        gateway.stop()
    result = summarize(report)
    result["cpu_s"] = cpu
    result["seconds"] = ended - began
    # The telemetry phase is the fleet's last --duration seconds.
    telemetry_ticks = ticks(gateway.log_path, ended - args.duration, ended)
    if side == "b":
        if any(p != "running" for p in phases):
            raise RuntimeError(f"run {index} (b): a rollout is no longer running: {phases}")
        if not telemetry_ticks or any(t["stepped"] != len(rollouts) for t in telemetry_ticks):
            raise RuntimeError(f"run {index} (b): the driver did not step every rollout at "
                               f"every tick: {telemetry_ticks}")
        times = [t["ms"] for t in telemetry_ticks]
        result.update(ticks=len(times), tick_ms=statistics.median(times), tick_max_ms=max(times))
    elif telemetry_ticks:
        raise RuntimeError(f"run {index} (a): the driver stepped a rollout: {telemetry_ticks}")
    if not args.keep:
        shutil.rmtree(workdir)
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default="build/native_sim")
    parser.add_argument("--devices", type=int, default=10000)
    parser.add_argument("--rate", type=int, default=2000,
                        help="telemetry requests/s offered (near the gateway's ceiling)")
    parser.add_argument("--duration", type=int, default=20, help="seconds of telemetry per run")
    parser.add_argument("--connect-rate", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--interval-ms", type=int, default=1000,
                        help="the gateway's --rollout-interval-ms")
    parser.add_argument("--per-rollout", type=int, default=1500,
                        help="devices per rollout (a 2 MiB request body holds about 1,650)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--json")
    args = parser.parse_args()
    binaries = {
        "gateway": os.path.join(args.build, "gateway/app/spindle-gateway"),
        "fleet": os.path.join(args.build, "tools/fleet/spindle-fleet"),
        "ctl": os.path.join(args.build, "tools/ctl/spindlectl"),
        "make_model": os.path.join(args.build, "tools/modelkit/spindle-make-model"),
    }
    root = tempfile.mkdtemp(prefix="spindle-bench-rollout-")
    args.keys = root
    try:
        snapshot_a, snapshot_b, rollouts = make_snapshots(binaries, args, root)
        print(f"\n{args.devices} devices; offered telemetry {args.rate} requests/s for "
              f"{args.duration} s, plain UDP on loopback; (b): {len(rollouts)} rollouts, every "
              f"device released, ticks every {args.interval_ms} ms; median of {args.runs} runs, "
              "(a) and (b) alternated\n", flush=True)
        rows = {"a": [], "b": []}
        for index in range(args.runs):
            for side, snapshot in (("a", snapshot_a), ("b", snapshot_b)):
                row = measure(binaries, args, root, side, snapshot, rollouts, index)
                rows[side].append(row)
                tick = (f", tick median {row['tick_ms']:.0f} ms (max {row['tick_max_ms']:.0f}, "
                        f"{row['ticks']} ticks)" if side == "b" else "")
                print(f"  run {index + 1} ({side}): {row['rps']:.0f} req/s, p50 "
                      f"{row['p50']:.2f} ms, p99 {row['p99']:.2f} ms, failed {row['errors']}, "
                      f"gateway CPU {row['cpu_s']:.1f} s{tick}", flush=True)
        summary = {side: {key: statistics.median(r[key] for r in runs) for key in runs[0]}
                   for side, runs in rows.items()}
        print(f"\n{'':28} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'failed':>7} "
              f"{'CPU s':>7} {'tick ms':>8}")
        names = {"a": "(a) ingest alone", "b": "(b) ingest + rollout gates"}
        for side in ("a", "b"):
            s = summary[side]
            tick = f"{s['tick_ms']:8.0f}" if "tick_ms" in s else f"{'-':>8}"
            print(f"{names[side]:28} {s['rps']:8.0f} {s['p50']:8.2f} {s['p99']:8.2f} "
                  f"{s['errors']:7.0f} {s['cpu_s']:7.1f} {tick}")
        a, b = summary["a"], summary["b"]
        ratio = {key: b[key] / a[key] if a[key] else float("nan")
                 for key in ("rps", "p50", "p99", "cpu_s")}
        print(f"{'ratio (b)/(a)':28} {ratio['rps']:8.2f} {ratio['p50']:8.2f} {ratio['p99']:8.2f} "
              f"{'':7} {ratio['cpu_s']:7.2f}")
        verdict = "met" if ratio["rps"] >= 0.9 else "MISSED"
        print(f"\ngoal: the gates cut durable ingest by at most 10 %: {verdict} "
              f"({(1 - ratio['rps']) * 100:.1f} % less)")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"runs": rows, "median": summary, "ratio": ratio,
                           "rollouts": len(rollouts)}, f, indent=1)
    finally:
        if args.keep:
            print(f"work directory kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
