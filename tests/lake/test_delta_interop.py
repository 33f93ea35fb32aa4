"""footfall's Delta tables read by other engines: the Python `deltalake` package (delta-rs),
Polars, and DuckDB. The lake must be standard Delta, so each sees the same rows and values as
`footfall sql`.

DuckDB's own Delta reader (`delta_scan`) is an extension DuckDB downloads at run time, which
this machine's network does not allow; DuckDB reads here the Parquet files that the table's
Delta log lists (taken from `deltalake`), which is what `delta_scan` does underneath."""

import json
import subprocess

import deltalake
import duckdb
import polars as pl

from conftest import WRITE_KEY, footfall_bin

SAMPLE = ["message_id", "type", "event", "user_id", "anonymous_id", "page_path", "utm_source", "properties"]


def footfall_sql(data, query):
    out = subprocess.run([footfall_bin(), "sql", query, "--format", "json", "--data", str(data)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def test_deltalake_polars_and_duckdb_see_what_footfall_sql_sees(server):
    sim = subprocess.run([footfall_bin(), "simulate", "--seed", "4", "--users", "120", "--days", "3",
                          "--end", "2026-11-20T00:00:00Z", "--to", server.url, "--write-key", WRITE_KEY],
                         capture_output=True, text=True)
    assert sim.returncode == 0, sim.stderr
    assert server.stop() == 0  # the loader's last pass runs at shutdown
    data = server.data
    table = str(data / "lake" / "raw_events")

    ours = footfall_sql(data, f"SELECT {', '.join(SAMPLE)} FROM raw_events ORDER BY message_id")
    logged = subprocess.run([footfall_bin(), "log", "dump", "--data", str(data)],
                            check=True, capture_output=True, text=True).stdout.splitlines()
    assert len(ours) == len(logged) > 1000

    dt = deltalake.DeltaTable(table)
    assert dt.metadata().partition_columns == ["event_date"]
    from_delta = dt.to_pyarrow_table(columns=SAMPLE).sort_by("message_id").to_pylist()
    assert from_delta == ours

    from_polars = pl.read_delta(table).select(SAMPLE).sort("message_id").to_dicts()
    assert from_polars == ours
    schema = pl.read_delta(table).schema
    assert str(schema["event_time"]) == "Datetime(time_unit='us', time_zone='UTC')"

    files = dt.file_uris()
    con = duckdb.connect()
    rows = con.execute(
        f"SELECT {', '.join(SAMPLE)} FROM read_parquet(?, hive_partitioning = true) ORDER BY message_id", [files]
    ).fetchall()
    assert [dict(zip(SAMPLE, r)) for r in rows] == ours
    per_event = con.execute(
        "SELECT event, count(*) FROM read_parquet(?, hive_partitioning = true) WHERE type = 'track' "
        "GROUP BY event ORDER BY event", [files]).fetchall()
    ours_per_event = footfall_sql(data, "SELECT event, count(*) AS n FROM raw_events WHERE type = 'track' "
                                        "GROUP BY event ORDER BY event")
    assert [(r["event"], r["n"]) for r in ours_per_event] == per_event
