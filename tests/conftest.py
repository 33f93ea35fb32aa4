"""Shared by the Python tests: a real `footfall serve` process on a free port."""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

WRITE_KEY = "sdk-test-key"


def footfall_bin():
    if os.environ.get("FOOTFALL_BIN"):
        return os.environ["FOOTFALL_BIN"]
    target = os.environ.get("CARGO_TARGET_DIR", str(Path.home() / ".cache" / "footfall-target"))
    return str(Path(target) / "debug" / "footfall")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, data):
        self.data = data
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [footfall_bin(), "serve", "--data", str(data), "--listen", f"127.0.0.1:{self.port}", "--write-key", WRITE_KEY],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("footfall serve did not become healthy")

    def dump(self, dead_letters=False):
        args = [footfall_bin(), "log", "dump", "--data", str(self.data)]
        if dead_letters:
            args.append("--dead-letter")
        out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
        return [json.loads(line) for line in out.splitlines()]

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


@pytest.fixture
def server(tmp_path):
    s = Server(tmp_path / "data")
    yield s
    if s.process.poll() is None:
        s.stop()


