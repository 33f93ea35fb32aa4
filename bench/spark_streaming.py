"""Stream processing beside Spark Structured Streaming, on the same events in the same run.

footfall: `lake-bench process` runs the whole processor (dedup, identity, enrichment,
sessions, 1-minute windows with unique-person sketches, live view) from the event log into
Delta tables. Spark (PySpark, local[2]): the same events as NDJSON, read as a stream with a
2-minute watermark, deduplicated by messageId within the watermark, then 1-minute tumbling
windows per event with approx_count_distinct of persons, written to Parquet with
trigger(availableNow=True) — a subset of footfall's work.

    cargo build --release -p footfall-bench --bin lake-bench
    ~/.cache/footfall-venv/bin/python bench/spark_streaming.py --events 1000000
"""

import argparse
import json
import os
import shutil
import subprocess
import time
from pathlib import Path


def run(args):
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{args[:2]} failed: {done.stderr}")
    return done.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target = os.environ.get("CARGO_TARGET_DIR", str(Path.home() / ".cache" / "footfall-target"))
    parser.add_argument("--bench", default=str(Path(target) / "release" / "lake-bench"))
    parser.add_argument("--footfall", default=str(Path(target) / "debug" / "footfall"))
    parser.add_argument("--dir", default="/tmp/footfall-stream-bench")
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()
    data = Path(args.dir)

    run([args.bench, "prepare", "--dir", str(data), "--events", str(args.events)])
    ours = json.loads(run([args.bench, "process", "--dir", str(data)]))
    print(f"footfall: {ours['records']:,} events in {ours['seconds']:.1f}s = {ours['events_per_second']:,.0f} events/s "
          f"(peak RSS {ours['peak_rss_mib']:.0f} MiB)")

    ndjson = data / "ndjson"
    shutil.rmtree(ndjson, ignore_errors=True)
    ndjson.mkdir(parents=True)
    with open(ndjson / "events.json", "w") as out:
        subprocess.run([args.footfall, "log", "dump", "--data", str(data)], stdout=out, check=True)

    from pyspark.sql import SparkSession, functions as F, types as T
    spark = (SparkSession.builder.master("local[2]").appName("footfall-stream-bench")
             .config("spark.sql.shuffle.partitions", "2").config("spark.ui.enabled", "false")
             .config("spark.driver.memory", "4g").getOrCreate())
    schema = T.StructType([
        T.StructField("messageId", T.StringType()), T.StructField("type", T.StringType()),
        T.StructField("event", T.StringType()), T.StructField("userId", T.StringType()),
        T.StructField("anonymousId", T.StringType()), T.StructField("timestamp", T.StringType()),
    ])
    out_dir, checkpoint = data / "spark-out", data / "spark-checkpoint"
    for d in (out_dir, checkpoint):
        shutil.rmtree(d, ignore_errors=True)
    stream = (spark.readStream.schema(schema).json(str(ndjson))
              .withColumn("ts", F.to_timestamp("timestamp"))
              .withColumn("name", F.coalesce("event", "type"))
              .withColumn("person", F.coalesce("userId", "anonymousId"))
              .withWatermark("ts", "2 minutes")
              .dropDuplicatesWithinWatermark(["messageId"])
              .groupBy(F.window("ts", "1 minute"), "name")
              .agg(F.count("*").alias("events"), F.approx_count_distinct("person").alias("uniques")))
    began = time.time()
    query = (stream.writeStream.format("parquet").option("path", str(out_dir))
             .option("checkpointLocation", str(checkpoint)).outputMode("append")
             .trigger(availableNow=True).start())
    query.awaitTermination()
    seconds = time.time() - began
    spark_rate = ours["records"] / seconds
    print(f"Spark Structured Streaming: {ours['records']:,} events in {seconds:.1f}s = {spark_rate:,.0f} events/s")
    print(f"footfall / Spark: {ours['events_per_second'] / spark_rate:.1f}x")
    spark.stop()


if __name__ == "__main__":
    main()
