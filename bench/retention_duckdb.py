"""footfall's retention beside the same matrix in DuckDB SQL, on the same Parquet files.

First-time cohorts by UTC day of a person's first START event ever (persons stitched through
`identities`, bots left out), bounded: period k counts the cohort's persons with a RETURN event
on day cohort + k. Reads the files the Delta logs list (via `deltalake`).

    python bench/retention_duckdb.py --data DIR [--footfall BIN] [--periods 30] [--repeat 3]
"""

import argparse
import json
import os
import subprocess
import time
from datetime import datetime
from pathlib import Path

import duckdb

from delta_files import files, quoted


def duckdb_retention(lake, start_event, return_event, periods, start, end):
    """{(cohort date, period): (cohort_size, persons)} and the seconds it took."""
    query = f"""
    WITH ev AS (
      SELECT COALESCE(i.person_id, e.person_id) AS person, CAST(e.event_time AT TIME ZONE 'UTC' AS DATE) AS day, e.event
      FROM read_parquet({files(lake, 'events')}, hive_partitioning = true) e
      LEFT JOIN read_parquet({files(lake, 'identities')}) i ON i.id = e.person_id
      WHERE NOT e.is_bot AND e.event IN ({quoted(start_event)}, {quoted(return_event)})
    ),
    cohorts AS (
      SELECT person, min(day) AS cohort FROM ev WHERE event = {quoted(start_event)} GROUP BY person
      HAVING min(day) >= DATE '{start}' AND min(day) < DATE '{end}'
    ),
    sizes AS (SELECT cohort, count(*) AS size FROM cohorts GROUP BY cohort),
    returns AS (
      SELECT c.cohort, (r.day - c.cohort) AS period, count(DISTINCT c.person) AS persons
      FROM cohorts c JOIN (SELECT DISTINCT person, day FROM ev WHERE event = {quoted(return_event)}) r USING (person)
      WHERE r.day - c.cohort BETWEEN 1 AND {periods}
      GROUP BY ALL
    )
    SELECT s.cohort, p.period, s.size, CASE WHEN p.period = 0 THEN s.size ELSE coalesce(r.persons, 0) END
    FROM sizes s CROSS JOIN range(0, {periods + 1}) p(period)
    LEFT JOIN returns r ON r.cohort = s.cohort AND r.period = p.period
    """
    began = time.perf_counter()
    rows = duckdb.sql(query).fetchall()
    seconds = time.perf_counter() - began
    return {(str(c), int(k)): (int(size), int(n)) for c, k, size, n in rows}, seconds


def footfall_retention(binary, data, start_event, return_event, periods, start, end):
    began = time.perf_counter()
    done = subprocess.run([binary, "retention", "--start", start_event, "--return", return_event, "--period", "day",
                           "--periods", str(periods), "--from", f"{start}T00:00:00Z", "--to", f"{end}T00:00:00Z",
                           "--json", "--data", str(data)], capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - began
    return {(c["cohort"], c["period"]): (c["cohort_size"], c["persons"]) for c in json.loads(done.stdout)}, seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target = os.environ.get("CARGO_TARGET_DIR", str(Path.home() / ".cache" / "footfall-target"))
    parser.add_argument("--footfall", default=str(Path(target) / "release" / "footfall"))
    parser.add_argument("--data", required=True)
    parser.add_argument("--from", dest="start", default="2026-09-01")
    parser.add_argument("--periods", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    end = datetime.fromordinal(datetime.fromisoformat(args.start).toordinal() + args.periods).date().isoformat()
    lake = Path(args.data) / "lake"
    results = {"footfall": [], "duckdb": []}
    for _ in range(args.repeat):
        ours, seconds = footfall_retention(args.footfall, args.data, "Product Viewed", "Product Viewed",
                                           args.periods, args.start, end)
        results["footfall"].append(seconds)
        theirs, seconds = duckdb_retention(lake, "Product Viewed", "Product Viewed", args.periods, args.start, end)
        results["duckdb"].append(seconds)
        assert ours == theirs, f"{sorted(set(ours.items()) ^ set(theirs.items()))[:10]}"
    results["cohorts"] = len({c for c, _ in ours})
    results["ratio_best"] = min(results["duckdb"]) / min(results["footfall"])
    print(json.dumps(results))


if __name__ == "__main__":
    main()
