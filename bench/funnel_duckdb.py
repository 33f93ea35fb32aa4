"""footfall's funnel beside the same funnel written in DuckDB SQL, on the same Parquet files.

The DuckDB formulation: persons stitched through `identities`, bots left out; every step-1
event in the range starts an attempt; each next step is the earliest later event (by time,
then log offset) of that step within the window from the start (a chain of joins with
`min` over (time, offset)); a person's depth is their best attempt's, the breakdown value
(device) that of their earliest best attempt's step-1 event. It reads the Parquet files the
tables' Delta logs list (from the `deltalake` package; DuckDB's own Delta extension is a
download this machine cannot make).

    python bench/funnel_duckdb.py --data DIR [--footfall BIN] [--repeat 3]

As a library, `duckdb_funnel()` is the reference of tests/lake/test_funnel_duckdb.py.
"""

import argparse
import json
import os
import subprocess
import time
from pathlib import Path

import duckdb

from delta_files import files, quoted

STEPS = ["Product Viewed", "Product Added", "Checkout Started", "Order Completed"]


def duckdb_funnel(lake, steps, window_us, start, end, breakdown="device_type"):
    """{(breakdown, step): persons} for an ordered funnel, and the seconds it took."""
    events = f"read_parquet({files(lake, 'events')}, hive_partitioning = true)"
    identities = f"read_parquet({files(lake, 'identities')})"
    names = ", ".join(quoted(s) for s in steps)
    sql = [f"""
    WITH ev AS (
      SELECT COALESCE(i.person_id, e.person_id) AS person, epoch_us(e.event_time) AS t,
             e.log_offset AS o, e.event AS event, e.{breakdown} AS b
      FROM {events} e LEFT JOIN {identities} i ON i.id = e.person_id
      WHERE NOT e.is_bot AND e.event IN ({names})
        AND epoch_us(e.event_time) >= {start} AND epoch_us(e.event_time) < {end + window_us}
    ),
    s1 AS (
      SELECT person, b, t AS t1, o AS o1, {{'t': t, 'o': o}} AS p1 FROM ev
      WHERE event = {quoted(steps[0])} AND t >= {start} AND t < {end}
    )"""]
    for k in range(2, len(steps) + 1):
        prev = f"s{k - 1}"
        carried = ", ".join(f"{prev}.p{j}" for j in range(1, k))
        sql.append(f""",
    s{k} AS (
      SELECT {prev}.person, {prev}.b, {prev}.t1, {prev}.o1, {carried},
             min({{'t': e.t, 'o': e.o}}) FILTER (WHERE e.t IS NOT NULL) AS p{k}
      FROM {prev} LEFT JOIN ev e ON e.person = {prev}.person AND e.event = {quoted(steps[k - 1])}
        AND {prev}.p{k - 1} IS NOT NULL
        AND (e.t > {prev}.p{k - 1}.t OR (e.t = {prev}.p{k - 1}.t AND e.o > {prev}.p{k - 1}.o))
        AND e.t <= {prev}.t1 + {window_us}
      GROUP BY ALL
    )""")
    n = len(steps)
    depth = " + ".join(f"(p{j} IS NOT NULL)::INT" for j in range(1, n + 1))
    sql.append(f""",
    attempts AS (SELECT person, b, t1, o1, {depth} AS depth FROM s{n}),
    best AS (
      SELECT person, arg_min(b, {{'d': -depth, 't': t1, 'o': o1}}) AS b, max(depth) AS depth
      FROM attempts GROUP BY person
    )
    SELECT b, {", ".join(f"count(*) FILTER (WHERE depth >= {k}) AS step{k}" for k in range(1, n + 1))}
    FROM best GROUP BY b""")
    query = "".join(sql)
    began = time.perf_counter()
    rows = duckdb.sql(query).fetchall()
    seconds = time.perf_counter() - began
    cells = {}
    for row in rows:
        for k in range(1, n + 1):
            cells[(row[0], k)] = row[k]
    return cells, seconds


def footfall_funnel(binary, data, steps, window, start_text, end_text):
    began = time.perf_counter()
    done = subprocess.run([binary, "funnel", "--steps", ",".join(steps), "--window", window, "--from", start_text,
                           "--to", end_text, "--breakdown", "device", "--json", "--data", str(data)],
                          capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - began
    return {(r["breakdown"], r["step"]): r["persons"] for r in json.loads(done.stdout)}, seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target = os.environ.get("CARGO_TARGET_DIR", str(Path.home() / ".cache" / "footfall-target"))
    parser.add_argument("--footfall", default=str(Path(target) / "release" / "footfall"))
    parser.add_argument("--data", required=True)
    parser.add_argument("--from", dest="start", default="2026-09-01T00:00:00Z")
    parser.add_argument("--to", dest="end", default="2026-12-01T00:00:00Z")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from datetime import datetime
    us = lambda text: int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1_000_000)
    lake = Path(args.data) / "lake"
    results = {"footfall": [], "duckdb": []}
    for _ in range(args.repeat):
        ours, seconds = footfall_funnel(args.footfall, args.data, STEPS, "1h", args.start, args.end)
        results["footfall"].append(seconds)
        theirs, seconds = duckdb_funnel(lake, STEPS, 3_600_000_000, us(args.start), us(args.end))
        results["duckdb"].append(seconds)
        assert ours == theirs, f"footfall {sorted(ours.items())} != duckdb {sorted(theirs.items())}"
    results["persons_step1"] = sum(v for (b, k), v in ours.items() if k == 1)
    results["ratio_best"] = min(results["duckdb"]) / min(results["footfall"])
    print(json.dumps(results))


if __name__ == "__main__":
    main()
