"""Latency from the collector's acknowledgement to the live view, under load.

A release `footfall serve` runs the whole pipeline (collector, log, loader, processor, live
view). `footfall simulate --rate R` sends live traffic; meanwhile a probe sends one `track`
event with a unique name every PERIOD seconds and notes when its acknowledgement came back,
and a reader of `GET /api/v1/live` (Server-Sent Events) notes when each probe's name first
appears in the live buckets. Latency = first seen - acknowledged. Prints JSON with p50, p99
and max, the probes missing, and the load actually sent.

    cargo build --release -p footfall
    ~/.cache/footfall-venv/bin/python bench/live_latency.py --rate 10000 --seconds 30
"""

import argparse
import json
import os
import re
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import requests

KEY = "latency-bench-key"
PROBE = "Latency Probe "


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url, limit=30):
    deadline = time.time() + limit
    while time.time() < deadline:
        try:
            if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise SystemExit("footfall serve did not become healthy")


def read_live(url, seen, stop):
    """Records when each probe name first shows in the live view's buckets."""
    with requests.get(f"{url}/api/v1/live", stream=True, timeout=(5, 30)) as response:
        for line in response.iter_lines(decode_unicode=True):
            if stop.is_set():
                return
            if not line or not line.startswith("data:"):
                continue
            now = time.monotonic()
            try:
                view = json.loads(line[5:])
            except ValueError:
                continue
            for bucket in view.get("buckets", []):
                for name in bucket.get("by_event", {}):
                    if name.startswith(PROBE) and name not in seen:
                        seen[name] = now


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target = os.environ.get("CARGO_TARGET_DIR", str(Path.home() / ".cache" / "footfall-target"))
    parser.add_argument("--footfall", default=str(Path(target) / "release" / "footfall"))
    parser.add_argument("--rate", type=float, default=10_000)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--period", type=float, default=0.1, help="seconds between probes")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="footfall-latency-") as data:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [args.footfall, "serve", "--data", data, "--listen", f"127.0.0.1:{port}", "--write-key", KEY],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_healthy(url)
            seen, stop = {}, threading.Event()
            reader = threading.Thread(target=read_live, args=(url, seen, stop), daemon=True)
            reader.start()
            load = subprocess.Popen(
                [args.footfall, "simulate", "--rate", str(args.rate), "--duration", str(args.seconds + 4),
                 "--to", url, "--write-key", KEY], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            time.sleep(2)  # let the load reach its rate
            acked, session = {}, requests.Session()
            began = time.monotonic()
            number = 0
            while time.monotonic() - began < args.seconds:
                name = f"{PROBE}{number}"
                answer = session.post(f"{url}/v1/track", auth=(KEY, ""), timeout=10,
                                      json={"userId": "latency-probe", "event": name})
                if answer.status_code == 200:
                    acked[name] = time.monotonic()
                number += 1
                time.sleep(args.period)
            load_output, _ = load.communicate(timeout=60)
            time.sleep(2)
            stop.set()
        finally:
            server.terminate()
            server.wait(timeout=60)

    latencies = [seen[n] - t for n, t in acked.items() if n in seen]
    sent = re.search(r"simulated (\d+) events in ([\d.]+) s", load_output or "")
    load_rate = int(sent.group(1)) / float(sent.group(2)) if sent else None
    print(json.dumps({
        "target_rate": args.rate,
        "load_events_per_second": load_rate,
        "probes": len(acked),
        "missing": len(acked) - len(latencies),
        "p50_ms": 1000 * percentile(latencies, 0.50) if latencies else None,
        "p99_ms": 1000 * percentile(latencies, 0.99) if latencies else None,
        "max_ms": 1000 * max(latencies) if latencies else None,
    }))


if __name__ == "__main__":
    main()
