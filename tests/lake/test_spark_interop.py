"""footfall's Delta tables read by Apache Spark with Delta Lake (`delta-spark`), the engine
Databricks runs: the bronze table after compaction and a GDPR erasure (rewritten files,
tombstones), and a gold table, each agreeing with `footfall sql`.

Spark's Delta jars (`io.delta:delta-spark_4.2_2.13`) come from Maven Central through Spark's
Ivy resolver, cached in ~/.cache/footfall-ivy between runs."""

import json
import subprocess
from pathlib import Path

import pytest
from delta import configure_spark_with_delta_pip
from pyspark.sql import SparkSession

from conftest import WRITE_KEY, footfall_bin

SAMPLE = ["message_id", "type", "event", "user_id", "anonymous_id", "page_path", "utm_source", "properties"]


def footfall(*args):
    done = subprocess.run([footfall_bin(), *args], capture_output=True, text=True)
    assert done.returncode == 0, f"{args}: {done.stderr}"
    return done.stdout


def footfall_sql(data, query):
    return json.loads(footfall("sql", query, "--format", "json", "--data", str(data)))


@pytest.fixture(scope="module")
def spark():
    builder = (
        SparkSession.builder.master("local[2]")
        .appName("footfall-interop")
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "2g")
        .config("spark.jars.ivy", str(Path.home() / ".cache" / "footfall-ivy"))
    )
    session = configure_spark_with_delta_pip(builder).getOrCreate()
    yield session
    session.stop()


def test_spark_with_delta_reads_bronze_and_gold_as_footfall_sql_does(server, spark):
    sim = subprocess.run([footfall_bin(), "simulate", "--seed", "11", "--users", "100", "--days", "2",
                          "--end", "2026-11-20T00:00:00Z", "--to", server.url, "--write-key", WRITE_KEY],
                         capture_output=True, text=True)
    assert sim.returncode == 0, sim.stderr
    assert server.stop() == 0
    data = server.data
    lake = data / "lake"

    # Maintenance first, so Spark reads compacted files and a table with deleted rows.
    footfall("lake", "optimize", "--data", str(data))
    user = footfall_sql(data, "SELECT user_id FROM raw_events WHERE user_id IS NOT NULL LIMIT 1")[0]["user_id"]
    footfall("forget", "--user", user, "--data", str(data))
    footfall("jobs", "run", "daily_event_counts", "--data", str(data))

    raw = spark.read.format("delta").load(str(lake / "raw_events"))
    ours = footfall_sql(data, f"SELECT {', '.join(SAMPLE)} FROM raw_events ORDER BY message_id")
    assert raw.count() == len(ours) > 500
    theirs = [row.asDict() for row in raw.select(*SAMPLE).orderBy("message_id").collect()]
    assert theirs == ours
    assert raw.filter(raw.user_id == user).count() == 0

    per_day = footfall_sql(data, "SELECT CAST(event_date AS VARCHAR) AS day, count(*) AS n, "
                                 "CAST(min(event_time) AS BIGINT) AS first FROM raw_events "
                                 "GROUP BY event_date ORDER BY event_date")
    spark_per_day = spark.sql(
        f"SELECT CAST(event_date AS STRING) AS day, count(*) AS n, "
        f"unix_micros(min(event_time)) AS first "
        f"FROM delta.`{lake / 'raw_events'}` GROUP BY event_date ORDER BY event_date").collect()
    assert [(r.day, r.n) for r in spark_per_day] == [(d["day"], d["n"]) for d in per_day]
    # Microsecond UTC timestamps survive the trip.
    assert [r.first for r in spark_per_day] == [d["first"] for d in per_day]

    gold = spark.read.format("delta").load(str(lake / "daily_event_counts"))
    ours_gold = footfall_sql(data, "SELECT CAST(date AS VARCHAR) AS date, event, events, users "
                                   "FROM daily_event_counts ORDER BY date, event")
    theirs_gold = [{"date": str(r.date), "event": r.event, "events": r.events, "users": r.users}
                   for r in gold.orderBy("date", "event").collect()]
    assert theirs_gold == ours_gold
