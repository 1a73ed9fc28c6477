"""Starts and drives the real spindle-gateway for integration tests (loopback only)."""
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

from node_harness import free_port, free_udp_port, wait_for


def free_tcp_port():
    return free_port(socket.SOCK_STREAM)


class Gateway:
    """One spindle-gateway process with its own data directory and ports."""

    def __init__(self, binary, workdir, insecure=False, trust_keys=(), extra=()):
        self.binary = binary
        self.data_dir = os.path.join(workdir, "gateway-data")
        self.log_path = os.path.join(workdir, "gateway.log")
        self.insecure = insecure
        self.coap_port = free_udp_port()
        self.http_port = free_tcp_port()
        self.trust_keys = list(trust_keys)
        self.extra = list(extra)
        self.process = None

    @property
    def coap_uri(self):
        return f"{'coap' if self.insecure else 'coaps'}://127.0.0.1:{self.coap_port}"

    @property
    def token(self):
        with open(os.path.join(self.data_dir, "api-token")) as f:
            return f.read().strip()

    def start(self):
        args = [self.binary, "--data-dir", self.data_dir, "--coap-port", str(self.coap_port),
                "--http-port", str(self.http_port), "--log-level", "debug"]
        if self.insecure:
            args.append("--insecure")
        for kid, path in self.trust_keys:
            args += ["--trust-key", f"{kid}={path}"]
        args += self.extra
        log = open(self.log_path, "a")
        self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        wait_for(lambda: self.process.poll() is not None or self.healthy(), 15, "gateway start")
        if self.process.poll() is not None:
            raise AssertionError(f"gateway exited with {self.process.returncode}:\n{self.log()}")

    def healthy(self):
        try:
            return self.request("GET", "/healthz", auth=False)[0] == 200
        except OSError:
            return False

    def stop(self):
        """SIGTERM and wait: the clean shutdown path. Returns the exit code."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)
        code = self.process.returncode if self.process else None
        self.process = None
        return code

    def kill(self):
        """SIGKILL: no chance to flush anything."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def request(self, method, path, body=None, auth=True, raw=None, content_type=None,
                token=None):
        """(status, parsed JSON or text) of one API request."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None
                                            else None)
        req = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}", data=data,
                                     method=method)
        if auth:
            req.add_header("Authorization", f"Bearer {token or self.token}")
        if content_type or data is not None:
            req.add_header("Content-Type", content_type or
                           ("application/octet-stream" if raw is not None else
                            "application/json"))
        try:
            with urllib.request.urlopen(req, timeout=10) as response:
                status, text = response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read().decode()
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    def api(self, method, path, body=None, expect=None, **kwargs):
        status, answer = self.request(method, path, body, **kwargs)
        if expect is not None and status != expect:
            raise AssertionError(f"{method} {path}: {status} {answer}")
        return answer

    def provision(self, *device_ids):
        """Provisions devices; returns {id: keys}."""
        answer = self.api("POST", "/api/v1/devices",
                          {"devices": [{"id": d} for d in device_ids]}, expect=200)
        return {d["id"]: d for d in answer["devices"]}

    def telemetry(self, device, name=None):
        records, after = [], 0
        while True:
            query = f"/api/v1/telemetry?device={device}&after={after}&limit=10000"
            if name:
                query += f"&name={name}"
            page = self.api("GET", query, expect=200)
            records += page["records"]
            if not page["records"] or page["next_after"] is None:
                return records
            after = page["next_after"]

    def events(self, device=None, kind=None):
        query = "/api/v1/events?limit=10000"
        if device:
            query += f"&device={device}"
        if kind:
            query += f"&kind={kind}"
        return self.api("GET", query, expect=200)["events"]

    def metric(self, name, labels=None):
        """A sample of /metrics: `name` alone, or `name{labels}` exactly."""
        _, text = self.request("GET", "/metrics", auth=False)
        key = name if labels is None else f"{name}{{{labels}}}"
        for line in text.splitlines():
            if line.rsplit(" ", 1)[0] == key:
                return float(line.rsplit(" ", 1)[1])
        raise AssertionError(f"no metric {key}")


def write_psk_file(workdir, device_id, keys):
    path = os.path.join(workdir, device_id + ".psk")
    with open(path, "w") as f:
        f.write(keys["psk"] + "\n")
    return path
