"""Integration: spindle-linkemu relaying between UDP clients and a Python echo server over
loopback. Checks byte-exact relaying per client, loss, delay, the rate limit, a blackout
window, bit corruption, the --capture file and the --stats counters against what the
endpoints saw, and the exits (SIGTERM, --duration, usage errors). Every wait is bounded."""
import argparse
import json
import os
import random
import select
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "integration"))
import node_harness as h  # noqa: E402  (free_udp_port)

LINKEMU = None
MAX_DATAGRAM = 65507  # the largest UDP payload over IPv4


class EchoServer:
    """Echoes every datagram to its sender; counts what it saw, per sender."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.received = 0
        self.bytes = 0
        self.payloads = []
        self.senders = set()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping.is_set():
            try:
                data, sender = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            with self.lock:
                self.received += 1
                self.bytes += len(data)
                self.payloads.append(data)
                self.senders.add(sender)
            self.sock.sendto(data, sender)

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=5)
        self.sock.close()


class Relay:
    """spindle-linkemu in front of an upstream port; ready once it prints its address."""

    def __init__(self, upstream_port, *extra, listen="127.0.0.1:0"):
        self.process = subprocess.Popen(
            [LINKEMU, "--listen", listen, "--upstream", f"127.0.0.1:{upstream_port}", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ready, _, _ = select.select([self.process.stdout], [], [], 10)
        line = self.process.stdout.readline() if ready else ""
        self.started = time.monotonic()
        if not line.startswith("listening 127.0.0.1:"):
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"relay did not start: {line!r}")
        self.port = int(line.strip().rsplit(":", 1)[1])

    def stop(self):
        """SIGTERM; returns (exit status, stdout, stderr)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        out, err = self.process.communicate(timeout=10)
        return self.process.returncode, out, err


class Client:
    def __init__(self, relay_port):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.connect(("127.0.0.1", relay_port))
        self.received = []

    def send(self, data):
        self.sock.send(data)

    def request(self, data, timeout=2.0):
        """Sends data and waits for its echo; returns the round trip in seconds or None."""
        self.sock.send(data)
        started = time.monotonic()
        deadline = started + timeout
        while True:
            reply = self._receive(deadline)
            if reply is None:
                return None
            if reply == data:
                return time.monotonic() - started

    def exchange(self, data, timeout=2.0):
        """Sends data and returns the first reply, whatever it holds, or None."""
        self.sock.send(data)
        return self._receive(time.monotonic() + timeout)

    def _receive(self, deadline):
        """The next reply (also kept in self.received), or None at the deadline."""
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        self.sock.settimeout(left)
        try:
            reply = self.sock.recv(65536)
        except socket.timeout:
            return None
        self.received.append(reply)
        return reply

    def drain(self, quiet=0.5, limit=10.0):
        """Collects replies until none came for `quiet` seconds (at most `limit`)."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            self.sock.settimeout(quiet)
            try:
                self.received.append(self.sock.recv(65536))
            except socket.timeout:
                return
            except ConnectionRefusedError:
                continue

    def poll(self):
        """Collects replies already waiting."""
        while True:
            try:
                self.received.append(self.sock.recv(65536, socket.MSG_DONTWAIT))
            except (BlockingIOError, ConnectionRefusedError):
                return

    def close(self):
        self.sock.close()


def numbered(i, size=32):
    return i.to_bytes(4, "big") + bytes(random.getrandbits(8) for _ in range(size - 4))


def bits_changed(a, b):
    assert len(a) == len(b)
    return sum(bin(x ^ y).count("1") for x, y in zip(a, b))


def read_capture(path):
    """The --capture records as (direction, payload): 1 byte 'u'/'d', 4-byte big-endian
    length, payload (tools/linkemu/README.md)."""
    with open(path, "rb") as f:
        data = f.read()
    records, at = [], 0
    while at < len(data):
        assert len(data) - at >= 5, f"truncated header at {at}"
        direction, length = struct.unpack_from(">cI", data, at)
        at += 5
        assert direction in (b"u", b"d"), f"direction {direction!r} at {at - 5}"
        assert len(data) - at >= length, f"truncated payload at {at}"
        records.append((direction.decode(), data[at:at + length]))
        at += length
    return records


class LinkEmu(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.echo = EchoServer()
        self.relays = []
        self.clients = []

    def tearDown(self):
        for client in self.clients:
            client.close()
        for relay in self.relays:
            if relay.process.poll() is None:
                relay.process.kill()
            relay.process.communicate(timeout=10)
        self.echo.stop()
        self.dir.cleanup()

    def relay(self, *extra, **kwargs):
        relay = Relay(self.echo.port, *extra, **kwargs)
        self.relays.append(relay)
        return relay

    def client(self, relay):
        client = Client(relay.port)
        self.clients.append(client)
        return client

    def stats_path(self):
        return os.path.join(self.dir.name, "stats.json")

    def stop_with_stats(self, relay):
        code, out, err = relay.stop()
        self.assertEqual(code, 0, err)
        with open(self.stats_path()) as f:
            return json.load(f), out

    def assert_balanced(self, direction):
        d = direction
        self.assertEqual(d["received"] + d["duplicated"],
                         d["forwarded"] + d["dropped_loss"] + d["dropped_queue"] +
                         d["dropped_blackout"] + d["pending"], d)

    def test_clean_link_echoes_every_datagram_byte_exact_per_client(self):
        port = h.free_udp_port()
        relay = self.relay("--stats", self.stats_path(), listen=f"127.0.0.1:{port}")
        self.assertEqual(relay.port, port)
        first, second = self.client(relay), self.client(relay)
        sizes = [0, 1, 2, 100, 1024, 1400, 9000, MAX_DATAGRAM] + \
            [random.randint(1, 1500) for _ in range(92)]
        for i, size in enumerate(sizes):
            client = first if i % 2 == 0 else second
            data = bytes(random.getrandbits(8) for _ in range(size)) if size < 2000 \
                else os.urandom(size)
            self.assertIsNotNone(client.request(data), f"datagram {i} ({size} bytes) lost")
        # Each client got exactly its own datagrams back, in order, and nothing else.
        self.assertEqual(len(first.received) + len(second.received), len(sizes))
        self.assertEqual(len(self.echo.senders), 2)  # one upstream socket per client
        stats, out = self.stop_with_stats(relay)
        for direction in ("client_to_upstream", "upstream_to_client"):
            d = stats[direction]
            self.assertEqual(d["received"], len(sizes))
            self.assertEqual(d["forwarded"], len(sizes))
            self.assertEqual(d["bytes"], sum(sizes))
            self.assert_balanced(d)
        self.assertEqual(stats["relay"]["sessions"], 2)
        self.assertIn("client->upstream: received 100", out)

    def test_loss_drops_about_a_fifth_each_way(self):
        count = 1000
        relay = self.relay("--loss", "0.2", "--seed", "7", "--stats", self.stats_path())
        client = self.client(relay)
        for i in range(count):
            client.send(numbered(i))
            time.sleep(0.001)
            client.poll()
        client.drain()
        stats, _ = self.stop_with_stats(relay)
        # Round trip: 0.8 * 0.8 = 64 % arrive; bounds of 4.5 standard deviations.
        delivered = len(client.received)
        bound = 4.5 * (count * 0.64 * 0.36) ** 0.5
        self.assertAlmostEqual(delivered, 0.64 * count, delta=bound)
        up, down = stats["client_to_upstream"], stats["upstream_to_client"]
        for d in (up, down):
            self.assertAlmostEqual(d["dropped_loss"], 0.2 * d["received"],
                                   delta=4.5 * (d["received"] * 0.16) ** 0.5)
            self.assert_balanced(d)
        self.assertEqual(up["received"], count)
        self.assertEqual(up["forwarded"], self.echo.received)
        self.assertEqual(down["received"], self.echo.received)
        self.assertEqual(down["forwarded"], delivered)

    def test_delay_applies_to_both_directions(self):
        relay = self.relay("--delay-ms", "50")
        client = self.client(relay)
        trips = [client.request(numbered(i)) for i in range(10)]
        self.assertNotIn(None, trips)
        self.assertGreaterEqual(min(trips), 0.100)
        self.assertLess(statistics.median(trips), 0.300)

    def test_rate_limit_spaces_datagrams(self):
        # 1000 bytes at 80 kbit/s: 100 ms each on the link, so ten sent at once come back
        # over about a second (both directions serialize, pipelined).
        relay = self.relay("--rate-kbps", "80", "--queue-bytes", "20000")
        client = self.client(relay)
        started = time.monotonic()
        for i in range(10):
            client.send(numbered(i, 1000))
        arrivals = []
        deadline = started + 5
        while len(arrivals) < 10 and time.monotonic() < deadline:
            client.sock.settimeout(max(deadline - time.monotonic(), 0.01))
            try:
                client.sock.recv(65536)
            except socket.timeout:
                break
            arrivals.append(time.monotonic() - started)
        self.assertEqual(len(arrivals), 10)
        self.assertGreaterEqual(arrivals[0], 0.19)  # one serialization each way
        self.assertGreaterEqual(arrivals[-1], 1.09)
        self.assertLess(arrivals[-1], 1.6)
        gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
        self.assertGreater(statistics.median(gaps), 0.08)

    def test_blackout_drops_everything_inside_and_traffic_resumes(self):
        relay = self.relay("--blackout", "1:1", "--stats", self.stats_path())
        client = self.client(relay)
        answered = []  # (seconds since the relay started, answered?)
        while True:
            sent_at = time.monotonic() - relay.started
            if sent_at > 3.0:
                break
            answered.append((sent_at, client.request(numbered(len(answered)), 0.05) is not None))
            time.sleep(max(0.0, 0.05 - (time.monotonic() - relay.started - sent_at)))
        # The relay's clock starts a little before it prints its address: 0.1 s margins.
        before = [ok for t, ok in answered if t < 0.9]
        inside = [ok for t, ok in answered if 1.1 < t < 1.9]
        after = [ok for t, ok in answered if t > 2.1]
        self.assertTrue(before and inside and after)
        self.assertTrue(all(before), answered)
        self.assertFalse(any(inside), answered)
        self.assertTrue(all(after), answered)
        stats, _ = self.stop_with_stats(relay)
        up = stats["client_to_upstream"]
        self.assertGreaterEqual(up["dropped_blackout"], len(inside))
        self.assertLessEqual(up["dropped_blackout"],
                             len([1 for t, _ in answered if 0.9 <= t <= 2.1]))
        self.assertEqual(up["dropped_loss"], 0)

    def test_stats_match_what_the_endpoints_saw(self):
        relay = self.relay("--loss", "0.1", "--duplicate", "0.1", "--reorder", "0.1",
                           "--delay-ms", "5", "--jitter-ms", "2", "--seed", "3",
                           "--stats", self.stats_path())
        client = self.client(relay)
        count = 300
        sent_bytes = 0
        for i in range(count):
            data = numbered(i, 20 + i % 200)
            sent_bytes += len(data)
            client.send(data)
            time.sleep(0.002)
            client.poll()
        client.drain()
        stats, _ = self.stop_with_stats(relay)
        up, down = stats["client_to_upstream"], stats["upstream_to_client"]
        for d in (up, down):
            self.assert_balanced(d)
            self.assertEqual(d["pending"], 0)
            self.assertGreater(d["dropped_loss"], 0)
            self.assertGreater(d["duplicated"], 0)
            self.assertGreater(d["reordered"], 0)
        self.assertEqual(up["received"], count)
        self.assertEqual(up["bytes_received"], sent_bytes)
        self.assertEqual(up["forwarded"], self.echo.received)
        self.assertEqual(up["bytes"], self.echo.bytes)
        self.assertEqual(down["received"], self.echo.received)
        self.assertEqual(down["forwarded"], len(client.received))
        self.assertEqual(down["bytes"], sum(len(r) for r in client.received))
        self.assertEqual(stats["relay"]["send_errors"], 0)
        self.assertEqual(stats["relay"]["sessions"], 1)

    def capture_path(self):
        return os.path.join(self.dir.name, "capture.bin")

    def test_corrupts_exactly_the_first_large_client_bound_datagram(self):
        # Like a test that damages one model block but no control message: only datagrams
        # of 200 bytes or more, only towards the client, only one.
        relay = self.relay("--corrupt", "1", "--corrupt-count", "1", "--corrupt-min-bytes",
                           "200", "--corrupt-direction", "down", "--capture",
                           self.capture_path(), "--stats", self.stats_path())
        client = self.client(relay)
        sent = [numbered(i, 32) for i in range(3)] + \
            [numbered(i, 500) for i in range(3, 6)] + [numbered(i, 32) for i in range(6, 8)]
        replies = [client.exchange(data) for data in sent]
        self.assertNotIn(None, replies)
        self.assertEqual(self.echo.payloads, sent)  # nothing corrupted upstream-bound
        self.assertEqual([bits_changed(a, b) for a, b in zip(sent, replies)],
                         [0, 0, 0, 1, 0, 0, 0, 0])
        stats, out = self.stop_with_stats(relay)
        self.assertEqual(stats["upstream_to_client"]["corrupted"], 1)
        self.assertEqual(stats["client_to_upstream"]["corrupted"], 0)
        self.assertIn("upstream->client: received 8, forwarded 8", out)
        self.assertIn("corrupted 1", out)
        # The capture is what crossed the wire, in order, the damaged reply included.
        records = read_capture(self.capture_path())
        self.assertEqual([p for d, p in records if d == "u"], sent)
        self.assertEqual([p for d, p in records if d == "d"], replies)
        self.assertEqual(len(records), stats["relay"]["captured"])
        self.assertEqual(records[0], ("u", sent[0]))

    def test_corruption_is_reproducible_with_the_seed(self):
        sent = [numbered(i, 64) for i in range(60)]

        def replies(seed):
            relay = self.relay("--corrupt", "0.3", "--seed", str(seed))
            client = self.client(relay)
            got = [client.exchange(data) for data in sent]
            code, _, err = relay.stop()
            self.assertEqual(code, 0, err)
            self.assertNotIn(None, got)
            return got

        first = replies(11)
        damaged = sum(1 for a, b in zip(sent, first) if a != b)
        # Each round trip passes the link twice: about half of the replies are damaged.
        self.assertGreater(damaged, 5)
        self.assertLess(damaged, 55)
        self.assertEqual(first, replies(11))
        self.assertNotEqual(first, replies(12))

    def test_capture_holds_exactly_the_forwarded_datagrams_and_appends(self):
        captured = []
        for run in range(2):
            relay = self.relay("--loss", "0.2", "--duplicate", "0.1", "--seed", str(run + 1),
                               "--capture", self.capture_path(), "--stats", self.stats_path())
            client = self.client(relay)
            echoed_before = len(self.echo.payloads)
            for i in range(200):
                client.send(numbered(i, 20 + i % 300))
                time.sleep(0.001)
                client.poll()
            client.drain()
            stats, _ = self.stop_with_stats(relay)
            records = read_capture(self.capture_path())
            self.assertEqual(records[:len(captured)], captured)  # appended, not truncated
            new = records[len(captured):]
            up = [p for d, p in new if d == "u"]
            down = [p for d, p in new if d == "d"]
            self.assertEqual(len(up), stats["client_to_upstream"]["forwarded"])
            self.assertEqual(len(down), stats["upstream_to_client"]["forwarded"])
            self.assertEqual(up, self.echo.payloads[echoed_before:])
            self.assertEqual(down, client.received)
            self.assertGreater(stats["client_to_upstream"]["dropped_loss"], 0)
            self.assertGreater(stats["client_to_upstream"]["duplicated"], 0)
            captured = records

    def test_sigterm_exits_zero_and_writes_stats(self):
        relay = self.relay("--stats", self.stats_path())
        client = self.client(relay)
        self.assertIsNotNone(client.request(b"ping"))
        started = time.monotonic()
        stats, _ = self.stop_with_stats(relay)
        self.assertLess(time.monotonic() - started, 2)
        self.assertEqual(stats["client_to_upstream"]["forwarded"], 1)

    def test_duration_ends_the_run(self):
        relay = self.relay("--duration", "0.5", "--stats", self.stats_path())
        relay.process.wait(timeout=10)
        self.assertLess(time.monotonic() - relay.started, 3)
        self.assertEqual(relay.process.returncode, 0)
        with open(self.stats_path()) as f:
            self.assertEqual(json.load(f)["client_to_upstream"]["received"], 0)

    def test_usage_errors_name_the_flag(self):
        for args, flag in ((["--upstream", "127.0.0.1:1", "--loss", "1.5"], "--loss"),
                           (["--upstream", "127.0.0.1:1", "--blackout", "5"], "--blackout"),
                           (["--upstream", "127.0.0.1:1", "--delay-ms", "-1"], "--delay-ms"),
                           (["--upstream", "127.0.0.1:1", "--queue-bytes", "0"],
                            "--queue-bytes"),
                           (["--upstream", "127.0.0.1:1", "--seed", "x"], "--seed"),
                           (["--upstream", "127.0.0.1:1", "--corrupt", "1.5"], "--corrupt"),
                           (["--upstream", "127.0.0.1:1", "--corrupt-direction", "left"],
                            "--corrupt-direction"),
                           (["--upstream", "127.0.0.1:1", "--corrupt-count", "-1"],
                            "--corrupt-count"),
                           (["--upstream", "127.0.0.1:1", "--corrupt-min-bytes", "70000"],
                            "--corrupt-min-bytes"),
                           (["--upstream", "localhost"], "--upstream"),
                           (["--listen", "127.0.0.1:99999", "--upstream", "127.0.0.1:1"],
                            "--listen"),
                           ([], "--upstream")):
            run = subprocess.run([LINKEMU, *args], stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True, timeout=10)
            self.assertEqual(run.returncode, 2, run.stdout)
            self.assertIn(flag, run.stdout)
            self.assertTrue(run.stdout.startswith("spindle-linkemu: "), run.stdout)

    def test_an_unwritable_capture_fails_at_start_up(self):
        missing = os.path.join(self.dir.name, "no-such-dir", "capture.bin")
        run = subprocess.run([LINKEMU, "--upstream", f"127.0.0.1:{self.echo.port}",
                              "--capture", missing], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, timeout=10)
        self.assertEqual(run.returncode, 1, run.stdout)
        self.assertIn("--capture", run.stdout)
        self.assertNotIn("listening", run.stdout)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--linkemu", required=True)
    args, rest = parser.parse_known_args()
    LINKEMU = args.linkemu
    random.seed(1)
    unittest.main(argv=[sys.argv[0]] + rest)
