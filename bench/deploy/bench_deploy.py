#!/usr/bin/python3
"""bench/deploy: how long a model takes from `spindlectl deploy` to running on a node, for
models of 4 KB to ~240 KB, on loopback and through spindle-linkemu set to a constrained
link; against the link's physical limit (payload bytes / bandwidth + one RTT) and, in the
same run through the same emulated link, against Debian's coap-client fetching the same
ciphertext from coap-server (libcoap 4.3.1, Block2, 1024-byte blocks).

  bench/deploy/bench_deploy.py [--build build/native_sim | --bin-dir DIR]
      [--sizes 4,16,64,240] [--links loopback,constrained,loopback-dtls] [--runs 3]
      [--rate-kbps 250] [--rtt-ms 20] [--loss 0.01] [--seed 1] [--board native_sim]
      [--keep] [--json out.json]

Per link: one spindle-gateway, one spindle-node (real time, --speed 1) registered through
the link, and one coap-server behind its own spindle-linkemu with the same impairments.
Per size and run: a fresh version is packed and pushed (not timed), then
- deploy ms: wall time from starting `spindlectl deploy` (sign the manifest, POST it) to
  the node printing "<id> v<N>: activated" (notification, Block2 download, digest,
  decryption, self-tests, activation);
- ctl ms: the same start to spindlectl's exit (it returns once the gateway has stored
  the deployment; the node may activate before or after that);
- node dl ms: the node's own "downloading" -> "downloaded" stamps (the transfer alone);
- load ms: the node's "downloaded" -> "running <id> v<N> from slot" stamps (digest,
  decryption into RAM, runtime load, self-tests). The node logs no line per scored window:
  the first inference is the next window boundary after that (1024 samples at 3200 Hz,
  at most 320 ms later);
- coap-client ms: wall time of `coap-client -m get -b 1024` of the same ciphertext from
  coap-server through the same kind of link (the blob is PUT beforehand, untimed), the
  fetched bytes checked against the blob.
- limit ms: payload bytes * 8 / --rate-kbps + --rtt-ms (emulated links only);
- t/o: deploys / fetches of the runs that did not finish within the time limit; they count
  as slower than any that finished in the medians (printed "t/o" when half did not).
Plain CoAP (gateway --insecure, node coap://) on the compared links; "loopback-dtls" runs
gateway and node over DTLS-PSK and coap-client over DTLS-PSK to coap-server (its time
includes the DTLS handshake, the node's session is already up). Medians of --runs runs.
--keep keeps the work directory (gateway.log and node.log per link).
"""
import argparse
import json
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration"))
import test_delivery as delivery  # noqa: E402  (Site, Node, Relay)
from node_harness import free_udp_port, stop_process, wait_for  # noqa: E402

# Layer widths giving payloads (container + 16-byte tag) of about 4, 16, 64 and 242 KB;
# the largest is near native_sim's slot payload capacity (252 KiB).
LAYERS = {4: "45,20,12,20,45", 16: "45,96,24,96,45", 64: "45,208,96,208,45",
          240: "45,576,160,576,45"}
LINKS = ("loopback", "constrained", "loopback-dtls", "constrained-dtls")
MODEL_ID = "bench"
DEVICE = "bench-node"
BLOCK = 1024
PSK_IDENTITY, PSK = "bench", "bench-deploy-psk"
BINARIES = {  # name: path under --build
    "gateway": "gateway/app/spindle-gateway",
    "node": "firmware/src/app/spindle-node",
    "ctl": "tools/ctl/spindlectl",
    "make_model": "tools/modelkit/spindle-make-model",
    "linkemu": "tools/linkemu/spindle-linkemu",
}
STAMP = rb"\[(\d+):(\d\d):(\d\d)\.(\d{3})\] <inf> install: "


def stamp_ms(match):
    h, m, s, ms = (int(g) for g in match.groups()[:4])
    return ((h * 60 + m) * 60 + s) * 1000 + ms


def limit_ms(payload, args):
    return payload * 8 / args.rate_kbps + args.rtt_ms


def transfer_timeout(payload, emulated, args):
    """Seconds a deployment or a fetch may take before it counts as timed out: room for
    stop-and-wait (about twice the limit at 20 ms RTT) and a few retransmission timeouts."""
    if not emulated:
        return 20
    return 30 + 4 * limit_ms(payload, args) / 1000


class CoapServer:
    """Debian's coap-server holding the blob (PUT with Block1 into a dynamic resource),
    and coap-client fetching it through a relay with the link's impairments."""

    def __init__(self, binaries, workdir, impairments, dtls):
        self.binaries, self.workdir, self.dtls = binaries, workdir, dtls
        self.port = free_udp_port()  # DTLS listens on port + 1
        self.process = subprocess.Popen(
            [binaries["coap_server"], "-A", "127.0.0.1", "-p", str(self.port), "-d", "4",
             "-k", PSK, "-v", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.relay = None
        upstream = self.port + 1 if dtls else self.port
        if impairments:
            self.relay = delivery.Relay(upstream, *impairments)
            upstream = self.relay.port
        scheme = "coaps" if dtls else "coap"
        self.uri = f"{scheme}://127.0.0.1:{upstream}/blob"
        self.out = os.path.join(workdir, "fetched.bin")

    def put(self, blob):
        """Stores the blob, untimed, directly (not through the link); retried while the
        server starts."""
        def stored():
            r = subprocess.run([self.binaries["coap_client"], "-m", "put", "-b", str(BLOCK),
                                "-B", "10", "-f", blob, f"coap://127.0.0.1:{self.port}/blob"],
                               capture_output=True, timeout=30)
            return r.returncode == 0 and self.fetch(f"coap://127.0.0.1:{self.port}/blob",
                                                    blob, 30)[1]
        wait_for(stored, 20, "coap-server to store the blob")

    def fetch(self, uri, blob, timeout):
        """(ms, fetched bytes equal the blob) of one GET."""
        if os.path.exists(self.out):
            os.remove(self.out)
        security = ["-u", PSK_IDENTITY, "-k", PSK] if uri.startswith("coaps") else []
        start = time.monotonic()
        subprocess.run([self.binaries["coap_client"], "-m", "get", "-b", str(BLOCK),
                        "-B", str(int(timeout)), *security, "-o", self.out, uri],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=timeout + 10)
        ms = (time.monotonic() - start) * 1000
        with open(blob, "rb") as a:
            expected = a.read()
        got = b""
        if os.path.exists(self.out):
            with open(self.out, "rb") as b:
                got = b.read()
        return ms, got == expected

    def time_get(self, blob, timeout):
        """ms of one GET through the link, or None when coap-client gave up (-B) before it
        had every byte of the blob."""
        ms, same = self.fetch(self.uri, blob, timeout)
        if not same:
            print(f"  (coap-client did not fetch {os.path.getsize(blob)} B from {self.uri} "
                  f"within {timeout:.0f} s)", file=sys.stderr)
        return ms if same else None

    def stop(self):
        if self.relay:
            self.relay.stop()
        stop_process(self.process)


class Bench:
    """One link: a gateway, a node registered through the link, a coap-server behind the
    same kind of link."""

    def __init__(self, link, binaries, workdir, args):
        self.link, self.binaries, self.args = link, binaries, args
        self.emulated = link.startswith("constrained")
        self.dtls = link.endswith("-dtls")
        self.workdir = os.path.join(workdir, link)
        self.version = 0
        self.site = self.relay = self.server = None
        try:
            self.start()
        except BaseException:
            self.stop()
            raise

    def impairments(self):
        if not self.emulated:
            return []
        a = self.args
        return ["--rate-kbps", a.rate_kbps, "--delay-ms", a.rtt_ms / 2, "--loss", a.loss,
                "--seed", a.seed]

    def start(self):
        self.site = delivery.Site(self.workdir, insecure=not self.dtls)
        uri = self.site.gateway.coap_uri
        if self.emulated:
            self.relay = delivery.Relay(self.site.gateway.coap_port, *self.impairments())
            uri = f"{'coaps' if self.dtls else 'coap'}://127.0.0.1:{self.relay.port}"
        self.site.provision(DEVICE, coap_uri=uri)
        # Real time (--speed 1), as on a device: a window, and its telemetry, every 320 ms.
        files = os.path.join(self.workdir, DEVICE)
        self.node = delivery.Node(subprocess.Popen(
            [self.binaries["node"], "--provision", files + ".provision", "--flash",
             files + ".flash", "--board", self.args.board, "--speed", "1", "--health-windows",
             "2", "--block-size", str(BLOCK), "--log-level", "info"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
        self.site.nodes[DEVICE] = self.node
        self.node.wait_output(rb"registered at", 60)
        self.server = CoapServer(self.binaries, self.workdir, self.impairments(), self.dtls)
        self.models = {}

    def package(self, size):
        """A freshly packed and pushed package of the next version, and its payload file as
        the gateway stores it."""
        if size not in self.models:
            self.models[size] = self.site.model(f"model-{size}", LAYERS[size], 1)
        self.version += 1
        package = self.site.pack(self.models[size], MODEL_ID, self.version,
                                 board=self.args.board)
        pushed = self.site.ctl("push", "--package", package)
        digest = re.search(r"\b([0-9a-f]{64})\b", pushed.stdout).group(1)
        blob = os.path.join(self.site.gateway.data_dir, "models", digest)
        return package, blob

    def deploy(self, package, payload):
        """{deploy_ms, spindlectl_ms, download_ms, load_ms} of deploying `package` (the
        last two from the node's millisecond log stamps), or None when the node did not
        activate it within the time limit; then waits until the node confirms it, so the
        next run starts from a settled node."""
        node, version = self.node, self.version
        prefix = rb"%s v%d: " % (MODEL_ID.encode(), version)
        mark = len(node.output)
        command = [self.binaries["ctl"], "deploy",
                   "--api", f"http://127.0.0.1:{self.site.gateway.http_port}",
                   "--token-file", os.path.join(self.site.gateway.data_dir, "api-token"),
                   "--package", package, "--signing-key", self.site.key, "--kid",
                   delivery.KID, "--device", DEVICE]
        timeout = transfer_timeout(payload, self.emulated, self.args)
        start = time.monotonic()
        ctl = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        activated = re.compile(prefix + rb"activated")
        failed = re.compile(prefix + rb"(manifest-rejected|failed|rolled-back)")
        elapsed = ctl_ms = None
        broken = False
        while time.monotonic() - start < timeout and (elapsed is None or ctl_ms is None):
            node.read(0.005 if elapsed is None else 0.001)
            now = (time.monotonic() - start) * 1000
            if ctl_ms is None and ctl.poll() is not None:
                ctl_ms = now
                broken = ctl.returncode != 0
            if elapsed is None and activated.search(node.output, mark):
                elapsed = now
            broken = broken or bool(failed.search(node.output, mark)) \
                or node.process.poll() is not None
            if broken:
                break
        _, err = ctl.communicate(timeout=60)
        if broken or ctl_ms is None:
            raise AssertionError(f"deploy of v{version} ({payload} B) failed: spindlectl "
                                 f"{ctl.returncode} {err.decode()}\n{node.summary()}")
        if elapsed is None:
            print(f"  ({self.link}: v{version}, {payload} B, not activated within "
                  f"{timeout:.0f} s)", file=sys.stderr)
            return None
        try:  # the node confirms from its network loop, which a lossy link can hold up
            node.wait_output(prefix + rb"confirmed", 30)
        except AssertionError:
            print(f"  ({self.link}: v{version} not confirmed within 30 s; going on)",
                  file=sys.stderr)
        stamps = {}
        for name in (b"downloading", b"downloaded"):
            found = re.compile(STAMP + prefix + name + rb" ").search(node.output, mark)
            stamps[name] = stamp_ms(found)
        running = re.compile(STAMP + rb"running %s v%d from slot" % (MODEL_ID.encode(), version))
        stamps[b"running"] = stamp_ms(running.search(node.output, mark))
        return {"deploy_ms": elapsed, "spindlectl_ms": ctl_ms,
                "download_ms": stamps[b"downloaded"] - stamps[b"downloading"],
                "load_ms": stamps[b"running"] - stamps[b"downloaded"]}

    def run(self, size):
        """One run of one size; a time that ran out is None."""
        package, blob = self.package(size)
        payload = os.path.getsize(blob)
        row = {"payload": payload, "deploy_ms": None, "spindlectl_ms": None,
               "download_ms": None, "load_ms": None}
        row.update(self.deploy(package, payload) or {})
        self.server.put(blob)
        row["coap_client_ms"] = self.server.time_get(
            blob, transfer_timeout(payload, self.emulated, self.args))
        return row

    def stop(self):
        if self.server:
            self.server.stop()
        if self.site:
            self.site.stop()  # the node and the gateway
            if DEVICE in self.site.nodes:  # beside gateway.log, for --keep
                with open(os.path.join(self.workdir, "node.log"), "wb") as f:
                    f.write(self.site.nodes[DEVICE].output)
        if self.relay:
            self.relay.stop()


def binaries_from(args):
    if args.bin_dir:
        found = {k: os.path.join(args.bin_dir, os.path.basename(v)) for k, v in BINARIES.items()}
    else:
        found = {k: os.path.join(args.build, v) for k, v in BINARIES.items()}
    found["coap_server"], found["coap_client"] = args.coap_server, args.coap_client
    for name, path in found.items():
        if not os.access(path, os.X_OK):
            sys.exit(f"bench_deploy: {name} not found at {path} (--build or --bin-dir)")
    delivery.GATEWAY, delivery.NODE, delivery.CTL = found["gateway"], found["node"], found["ctl"]
    delivery.MAKE_MODEL, delivery.LINKEMU = found["make_model"], found["linkemu"]
    return found


def fmt(value, width, digits=1):
    if value is None:
        return f"{'-':>{width}}"
    return f"{'t/o':>{width}}" if value == math.inf else f"{value:{width}.{digits}f}"


def median(runs, key, missing):
    """Median over runs; a run without the value counts as `missing` (inf: it timed out,
    so it is slower than any that finished), or is left out (None). None if none has it."""
    values = [r[key] if r[key] is not None else missing for r in runs]
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize(size, link, runs, emulated_args):
    med = {"deploy_ms": median(runs, "deploy_ms", math.inf),
           "coap_client_ms": median(runs, "coap_client_ms", math.inf)}
    for key in ("spindlectl_ms", "download_ms", "load_ms"):
        med[key] = median(runs, key, None)
    payload = runs[0]["payload"]
    limit = limit_ms(payload, emulated_args) if emulated_args else None
    deploy, coap = med["deploy_ms"], med["coap_client_ms"]
    finite = deploy != math.inf
    return {"size_kb": size, "link": link, "payload": payload, "limit_ms": limit,
            "median": med, "runs": runs,
            "timed_out": {"deploy": sum(r["deploy_ms"] is None for r in runs),
                          "coap_client": sum(r["coap_client_ms"] is None for r in runs)},
            "deploy_per_coap_client": deploy / coap if finite and coap != math.inf else None,
            "deploy_per_limit": deploy / limit if finite and limit else None}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", default="build/native_sim")
    parser.add_argument("--bin-dir", help="one directory holding all five binaries "
                        "(instead of their places under --build)")
    parser.add_argument("--coap-server", default="/usr/bin/coap-server-openssl")
    parser.add_argument("--coap-client", default="/usr/bin/coap-client-openssl")
    parser.add_argument("--sizes", default="4,16,64,240",
                        help=f"model sizes in KB, of {sorted(LAYERS)}")
    parser.add_argument("--links", default="loopback,constrained,loopback-dtls",
                        help=f"of {', '.join(LINKS)}")
    parser.add_argument("--board", default="native_sim",
                        help="board name under boards/ or a board.conf path, for pack and node")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rate-kbps", type=float, default=250)
    parser.add_argument("--rtt-ms", type=float, default=20, help="half of it each way")
    parser.add_argument("--loss", type=float, default=0.01, help="per datagram, each way")
    parser.add_argument("--seed", type=int, default=1, help="linkemu's impairment seed")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--json")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    links = args.links.split(",")
    if any(s not in LAYERS for s in sizes) or any(l not in LINKS for l in links) \
            or not 1 <= args.runs <= 20:
        parser.error("unknown size or link, or --runs not in 1..20")
    binaries = binaries_from(args)

    workdir = tempfile.mkdtemp(prefix="spindle-bench-deploy-")
    print(f"constrained = spindle-linkemu {args.rate_kbps:g} kbit/s, {args.rtt_ms:g} ms RTT, "
          f"{args.loss:g} loss each way (seed {args.seed}); blocks of {BLOCK} B; "
          f"median of {args.runs} runs\n")
    header = (f"{'payload B':>9} {'link':>16} {'deploy ms':>10} {'ctl ms':>7} "
              f"{'node dl ms':>10} {'coap-cl ms':>10} {'limit ms':>9} {'dep/coap':>8} "
              f"{'dep/limit':>9} {'load ms':>8} {'t/o':>5}")
    print(header)
    results = {"params": vars(args), "rows": []}
    ok = False
    try:
        for link in links:
            bench = Bench(link, binaries, workdir, args)
            try:
                for size in sizes:
                    runs = [bench.run(size) for _ in range(args.runs)]
                    row = summarize(size, link, runs, args if bench.emulated else None)
                    results["rows"].append(row)
                    med = row["median"]
                    print(f"{row['payload']:>9} {link:>16} {fmt(med['deploy_ms'], 10)} "
                          f"{fmt(med['spindlectl_ms'], 7)} {fmt(med['download_ms'], 10)} "
                          f"{fmt(med['coap_client_ms'], 10)} {fmt(row['limit_ms'], 9)} "
                          f"{fmt(row['deploy_per_coap_client'], 8, 2)} "
                          f"{fmt(row['deploy_per_limit'], 9, 2)} {fmt(med['load_ms'], 8)} "
                          f"{row['timed_out']['deploy']:>3}/{row['timed_out']['coap_client']}",
                          flush=True)
            finally:
                bench.stop()
        ok = True
    finally:
        if ok and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"kept {workdir}", file=sys.stderr)
    if args.json:
        for row in results["rows"]:  # a timed-out median is null in JSON
            row["median"] = {k: (None if v == math.inf else v) for k, v in row["median"].items()}
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
