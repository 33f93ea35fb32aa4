"""Lake benchmark: loading the event log into `raw_events`, then two analyst queries run by
footfall (DataFusion over the Delta table) and by DuckDB reading the very same Parquet files
(the files the table's Delta log lists), on the same machine in the same run. Both engines use
every core; each query's best of --repeat runs is compared, and the answers are checked equal.

    cargo build --release -p footfall-bench --bin lake-bench
    ~/.cache/footfall-venv/bin/python bench/lake_query.py --events 10000000
"""

import argparse
import json
import os
import subprocess
import time
from pathlib import Path

import deltalake
import duckdb

QUERIES = {
    "events per name": (
        "SELECT event, count(*) AS n, count(DISTINCT user_id) AS users FROM raw_events GROUP BY event ORDER BY event",
        "SELECT event, count(*) AS n, count(DISTINCT user_id) AS users FROM raw_events GROUP BY event ORDER BY event",
    ),
    "daily revenue": (
        "SELECT event_date, count(*) AS orders, round(sum(json_get_float(properties, 'revenue')), 2) AS revenue, "
        "count(DISTINCT user_id) AS buyers FROM raw_events WHERE event = 'Order Completed' "
        "GROUP BY event_date ORDER BY event_date",
        "SELECT event_date, count(*) AS orders, round(sum(CAST(json_extract(properties, '$.revenue') AS DOUBLE)), 2) "
        "AS revenue, count(DISTINCT user_id) AS buyers FROM raw_events WHERE event = 'Order Completed' "
        "GROUP BY event_date ORDER BY event_date",
    ),
}


def run(args, **kw):
    done = subprocess.run(args, capture_output=True, text=True, **kw)
    if done.returncode != 0:
        raise SystemExit(f"{args[:2]} failed: {done.stderr}")
    return done


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target = os.environ.get("CARGO_TARGET_DIR", str(Path.home() / ".cache" / "footfall-target"))
    parser.add_argument("--bench", default=str(Path(target) / "release" / "lake-bench"))
    parser.add_argument("--dir", default="/tmp/footfall-lake-bench")
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--reuse", action="store_true", help="keep the log and lake of an earlier run")
    args = parser.parse_args()
    data = Path(args.dir)

    if not args.reuse:
        began = time.time()
        run([args.bench, "prepare", "--dir", str(data), "--events", str(args.events)])
        print(f"prepared {args.events:,} simulated messages in the event log ({time.time() - began:.0f}s)")
        load = json.loads(run([args.bench, "load", "--dir", str(data)]).stdout)
        print(f"load: {load['events']:,} events into raw_events in {load['seconds']:.1f}s "
              f"= {load['events_per_second']:,.0f} events/s ({load['commits']} commits)")

    files = deltalake.DeltaTable(str(data / "lake" / "raw_events")).file_uris()
    con = duckdb.connect()
    con.execute(f"SET threads = {os.cpu_count()}")
    con.read_parquet(files, hive_partitioning=True).create_view("raw_events")
    ours = json.loads(run([args.bench, "query", "--dir", str(data), "--repeat", str(args.repeat),
                           *[q for q, _ in QUERIES.values()]]).stdout)
    print(f"footfall session (opening every Delta table): {ours['open_seconds'] * 1000:.0f} ms")
    print("| query | footfall best (s) | DuckDB best (s) | footfall / DuckDB |")
    print("|---|---|---|---|")
    for (name, (_, theirs_sql)), mine in zip(QUERIES.items(), ours["queries"]):
        times = []
        for _ in range(args.repeat):
            began = time.perf_counter()
            rows = con.execute(theirs_sql).fetchall()
            times.append(time.perf_counter() - began)
        if len(rows) != mine["rows"]:
            raise SystemExit(f"{name}: DuckDB gave {len(rows)} rows, footfall {mine['rows']}")
        best = min(times)
        print(f"| {name} | {mine['best']:.3f} | {best:.3f} | {mine['best'] / best:.2f}x |")


if __name__ == "__main__":
    main()
