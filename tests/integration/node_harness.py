"""Starts and stops the real processes of the node integration tests (loopback only)."""
import json
import os
import random
import re
import signal
import socket
import subprocess
import time


def free_port(kind=socket.SOCK_DGRAM):
    """A port on 127.0.0.1 that nothing is bound to right now (UDP, or TCP with
    socket.SOCK_STREAM)."""
    for _ in range(50):
        port = random.randint(20000, 60000)
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port")


def free_udp_port():
    return free_port(socket.SOCK_DGRAM)


class Server:
    """The libcoap test server, appending events to a JSON-lines log."""

    def __init__(self, binary, port, log, psk_identity=None, psk_hex=None):
        self.binary, self.port, self.log = binary, port, log
        self.psk = (psk_identity, psk_hex)
        self.process = None

    def start(self):
        args = [self.binary, "--port", str(self.port), "--log", self.log]
        if self.psk[1]:
            args += ["--psk-identity", self.psk[0], "--psk-hex", self.psk[1]]
        self.process = subprocess.Popen(args)
        wait_for(lambda: any(e["event"] == "started" for e in events(self.log))
                 and self.process.poll() is None, 10, "server start")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=10)
        self.process = None


def stop_process(process, timeout=10):
    """SIGTERM, then SIGKILL if it has not exited within `timeout` seconds; waits for it."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def events(log):
    if not os.path.exists(log):
        return []
    with open(log) as f:
        return [json.loads(line) for line in f if line.strip()]


def readings(log, name=None):
    return [e for e in events(log) if e["event"] == "reading" and (name is None or e["name"] == name)]


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def start_node(binary, device_id, gateway, workdir, *extra):
    args = [binary, "--id", device_id, "--gateway", gateway,
            "--flash", os.path.join(workdir, device_id + ".flash"), *extra]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


class Relay:
    """spindle-linkemu between nodes and a CoAP server on 127.0.0.1:upstream_port."""

    def __init__(self, linkemu, upstream_port, *impairments, capture=None):
        args = [linkemu, "--listen", "127.0.0.1:0", "--upstream", f"127.0.0.1:{upstream_port}",
                *impairments]
        if capture:
            args += ["--capture", capture]
        self.process = subprocess.Popen([str(a) for a in args], stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
        line = self.process.stdout.readline()
        match = re.search(r"listening \S+:(\d+)$", line.strip())
        if not match:
            self.process.kill()
            raise AssertionError(f"linkemu did not say where it listens: {line!r}")
        self.port = int(match.group(1))

    def stop(self):
        stop_process(self.process)
