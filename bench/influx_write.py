"""The InfluxDB sink beside `curl`, and the metrics API's latency, in the same run.

1. Simulated events → `footfall process` → `metrics_1m` (one-minute windows).
2. `footfall influx lines` writes the line protocol the sink sends to a file.
3. A fresh InfluxDB 1.x (scripts/influxdb.sh): `curl --data-binary @file` posts the whole file
   to one database (the server's own ceiling: one request, no compression, no client work),
   and `footfall influx sync --from-start` sends the same points (read from the lake, batched,
   two requests in flight, with and without gzip) to others; points/s of each, alternating,
   best of ROUNDS. The footfall times include starting the process and reading the lake.
4. `footfall serve` over the same data: ITERATIONS requests of
   `/api/v1/metrics?step=1h&by=device` over 30 days; p50/p99 latency.

    cargo build --release -p footfall -p footfall-bench
    ~/.cache/footfall-venv/bin/python bench/influx_write.py --events 2000000
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def run(args, **kw):
    done = subprocess.run(args, capture_output=True, text=True, **kw)
    if done.returncode != 0:
        raise SystemExit(f"{args[:3]} failed: {done.stderr}")
    return done


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def influxql(url, db, q):
    answer = requests.get(f"{url}/query", params={"db": db, "q": q}, timeout=60).json()
    return answer["results"][0]


def count_points(url, db):
    result = influxql(url, db, "SELECT count(events) FROM footfall_events")
    return result["series"][0]["values"][0][1] if "series" in result else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target = os.environ.get("CARGO_TARGET_DIR", str(Path.home() / ".cache" / "footfall-target"))
    parser.add_argument("--footfall", default=str(Path(target) / "release" / "footfall"))
    parser.add_argument("--bench", default=str(Path(target) / "release" / "lake-bench"))
    parser.add_argument("--dir", default="/tmp/footfall-influx-bench")
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=200)
    args = parser.parse_args()
    data = Path(args.dir)
    if data.exists():
        shutil.rmtree(data)

    run([args.bench, "prepare", "--dir", str(data), "--events", str(args.events), "--users", str(args.users)])
    run([args.footfall, "process", "--once", "--data", str(data)])
    lines = data / "points.lp"
    run([args.footfall, "influx", "lines", "--data", str(data), "--output", str(lines)])
    points = sum(1 for _ in lines.open())

    influx_dir = data / "influxdb"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    script = str(ROOT / "scripts" / "influxdb.sh")
    run(["bash", script, "start", str(influx_dir), str(port)])
    results = {"points": points, "line_protocol_mib": lines.stat().st_size / 2**20, "curl": [], "footfall": [],
               "footfall_no_gzip": []}
    try:
        for round_ in range(args.rounds):
            db_curl = f"curl_{round_}"
            for db in (db_curl, f"sink_{round_}", f"plain_{round_}"):
                requests.post(f"{url}/query", data={"q": f'CREATE DATABASE "{db}"'}, timeout=30)
            began = time.perf_counter()
            run(["curl", "-sS", "-f", "-XPOST", f"{url}/write?db={db_curl}&precision=ns",
                 "--data-binary", f"@{lines}"])
            results["curl"].append(points / (time.perf_counter() - began))
            assert count_points(url, db_curl) == points, "curl: not every point landed"

            for name, db, gzip in (("footfall", f"sink_{round_}", "true"), ("footfall_no_gzip", f"plain_{round_}", "false")):
                config = data / "footfall.toml"
                config.write_text(f'[influxdb]\nurl = "{url}"\ndatabase = "{db}"\ngzip = {gzip}\n')
                began = time.perf_counter()
                run([args.footfall, "--config", str(config), "influx", "sync", "--from-start", "--data", str(data)])
                results[name].append(points / (time.perf_counter() - began))
                assert count_points(url, db) == points, f"{name}: not every point landed"
    finally:
        run(["bash", script, "stop", str(influx_dir)])
    best_curl = max(results["curl"])
    results["ratio_best"] = max(results["footfall"]) / best_curl
    results["ratio_best_no_gzip"] = max(results["footfall_no_gzip"]) / best_curl

    # The metrics API over 30 days, hourly, by device.
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([args.footfall, "serve", "--data", str(data), "--listen", f"127.0.0.1:{port}",
                               "--write-key", "k"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                if requests.get(f"{api}/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        time.sleep(20)  # let serve's loader fill raw_events before timing
        span = requests.get(f"{api}/api/v1/metrics", params={"from": "2026-09-01T00:00:00Z", "to": "2026-10-01T00:00:00Z",
                                                              "step": "1d"}, timeout=60).json()
        days_with_data = sum(1 for p in span["series"][0]["points"] if p["value"] > 0)
        params = {"from": "2026-09-01T00:00:00Z", "to": "2026-10-01T00:00:00Z", "step": "1h", "by": "device"}
        session = requests.Session()
        times = []
        for _ in range(args.iterations):
            began = time.perf_counter()
            answer = session.get(f"{api}/api/v1/metrics", params=params, timeout=60)
            times.append(time.perf_counter() - began)
            assert answer.status_code == 200, answer.text
        times.sort()
        results["metrics_api"] = {
            "days_with_data": days_with_data,
            "series": len(answer.json()["series"]),
            "p50_ms": 1000 * times[len(times) // 2],
            "p99_ms": 1000 * times[int(0.99 * len(times))],
        }
    finally:
        server.terminate()
        server.wait(timeout=60)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
