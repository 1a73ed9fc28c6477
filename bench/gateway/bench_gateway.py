#!/usr/bin/python3
"""bench/gateway: spindle-fleet against spindle-gateway and, in the same run and the same
way, against spindle-bare-coap-server (a libcoap server that answers the same requests
with no work: the ceiling). Prints requests per second, p50/p99 latency and gateway memory
per registered device, and the gateway/bare ratios; medians of --runs runs.

  bench/gateway/bench_gateway.py --build build/native_sim [--devices 1000,10000]
      [--rate 2000] [--duration 10] [--runs 3] [--secure] [--json out.json]

--secure runs both over DTLS-PSK: the bare server and the gateway share one site master
secret, so the fleet's PSKs (derived, or returned by provisioning) are right for both.
"""
import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration"))
from node_harness import free_udp_port, stop_process, wait_for  # noqa: E402
from gateway_harness import free_tcp_port  # noqa: E402


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def run_fleet(fleet, uri, devices, args, workdir, extra=()):
    report = os.path.join(workdir, "fleet.json")
    command = [fleet, "--gateway", uri, "--devices", str(devices), "--rate", str(args.rate),
               "--duration", str(args.duration), "--observe", "--lifetime", "600",
               "--connect-rate", str(args.connect_rate), "--register-timeout",
               str(max(30, devices // args.connect_rate * 3)), "--json", report, *extra]
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=args.duration + devices // args.connect_rate * 3 + 120)
    with open(report) as f:
        return json.load(f)


def summarize(report):
    telemetry = report["requests"]["telemetry"]
    register = report["requests"]["register"]
    return {
        "registered": report["devices"]["registered"],
        "register_per_s": report["registration"]["per_second"],
        "register_p50": register["latency_ms"]["p50"],
        "rps": report["telemetry"]["requests_per_second"],
        "p50": telemetry["latency_ms"]["p50"],
        "p99": telemetry["latency_ms"]["p99"],
        "errors": telemetry["errored"] + telemetry["timed_out"],
    }


def write_master_secret(workdir):
    path = os.path.join(workdir, "site-master.key")
    with open(path, "w") as f:
        f.write(os.urandom(32).hex() + "\n")
    return path


def bench_bare(binaries, devices, args):
    with tempfile.TemporaryDirectory() as workdir:
        port = free_udp_port()
        command = [binaries["bare"], "--port", str(port)]
        fleet_extra = []
        if args.secure:
            master = write_master_secret(workdir)
            command += ["--dtls", "--master-secret-file", master]
            fleet_extra = ["--master-secret-file", master]
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        scheme = "coaps" if args.secure else "coap"
        try:
            time.sleep(0.3)
            result = summarize(run_fleet(binaries["fleet"], f"{scheme}://127.0.0.1:{port}",
                                         devices, args, workdir, fleet_extra))
        finally:
            stop_process(server, timeout=60)
    return result


def bench_gateway(binaries, devices, args):
    with tempfile.TemporaryDirectory() as workdir:
        coap_port, http_port = free_udp_port(), free_tcp_port()
        data = os.path.join(workdir, "data")
        security = ([] if args.secure else ["--insecure"])
        server = subprocess.Popen(
            [binaries["gateway"], "--data-dir", data, *security, "--coap-port", str(coap_port),
             "--http-port", str(http_port), "--log-level", "warn", "--peer-rate", "1000",
             "--peer-burst", "1000"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        scheme = "coaps" if args.secure else "coap"
        try:
            def healthy():
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/healthz",
                                                timeout=2) as r:
                        return r.status == 200
                except OSError:
                    return False
            wait_for(healthy, 20, "gateway start")
            rss_before = rss_kib(server.pid)
            report = run_fleet(binaries["fleet"], f"{scheme}://127.0.0.1:{coap_port}", devices, args,
                               workdir, ["--provision-api", f"http://127.0.0.1:{http_port}",
                                         "--token-file", os.path.join(data, "api-token")])
            rss_after = rss_kib(server.pid)
            result = summarize(report)
            result["bytes_per_device"] = (rss_after - rss_before) * 1024 / max(1, devices)
        finally:
            stop_process(server, timeout=60)
    return result


def median(rows, key):
    return statistics.median(r[key] for r in rows)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default="build/native_sim")
    parser.add_argument("--devices", default="1000,10000")
    parser.add_argument("--rate", type=int, default=2000, help="telemetry requests/s offered")
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connect-rate", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--secure", action="store_true", help="DTLS-PSK instead of plain UDP")
    parser.add_argument("--json")
    args = parser.parse_args()
    binaries = {
        "gateway": os.path.join(args.build, "gateway/app/spindle-gateway"),
        "bare": os.path.join(args.build, "bench/gateway/spindle-bare-coap-server"),
        "fleet": os.path.join(args.build, "tools/fleet/spindle-fleet"),
    }
    results = {}
    transport = "DTLS-PSK" if args.secure else "plain UDP"
    print(f"offered telemetry rate {args.rate}/s for {args.duration} s, {transport} on loopback, "
          f"median of {args.runs} runs\n")
    header = (f"{'devices':>8} {'server':>8} {'reg/s':>8} {'req/s':>8} {'p50 ms':>8} "
              f"{'p99 ms':>8} {'errors':>7} {'B/device':>9}")
    print(header)
    for devices in [int(d) for d in args.devices.split(",")]:
        rows = {"bare": [], "gateway": []}
        for _ in range(args.runs):  # interleaved, so drift in machine load hits both alike
            rows["bare"].append(bench_bare(binaries, devices, args))
            rows["gateway"].append(bench_gateway(binaries, devices, args))
        summary = {}
        for name, runs in rows.items():
            summary[name] = {key: median(runs, key) for key in runs[0]}
            s = summary[name]
            memory = f"{s['bytes_per_device']:9.0f}" if "bytes_per_device" in s else f"{'-':>9}"
            print(f"{devices:>8} {name:>8} {s['register_per_s']:8.0f} {s['rps']:8.0f} "
                  f"{s['p50']:8.2f} {s['p99']:8.2f} {s['errors']:7.0f} {memory}")
        bare, gateway = summary["bare"], summary["gateway"]
        ratio = {
            "rps": gateway["rps"] / bare["rps"] if bare["rps"] else float("nan"),
            "p50": gateway["p50"] / bare["p50"] if bare["p50"] else float("nan"),
            "p99": gateway["p99"] / bare["p99"] if bare["p99"] else float("nan"),
        }
        print(f"{devices:>8} {'ratio':>8} {'':>8} {ratio['rps']:8.2f} {ratio['p50']:8.2f} "
              f"{ratio['p99']:8.2f}   (gateway / bare)")
        results[devices] = {"runs": rows, "median": summary, "ratio": ratio}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
