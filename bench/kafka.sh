#!/usr/bin/env bash
# footfall through a real Kafka broker, beside Kafka's own performance tools, in one run:
#
#   1. `footfall collect` → broker: Segment /v1/batch requests (ingest-bench, 32 connections)
#      acknowledged only after the brokers' acks=all, records keyed by person.
#   2. Kafka's ProducerPerformance: the same records (a sample of what footfall stored, as its
#      payload file, so the same sizes), the same producer settings (acks=all, idempotence,
#      linger.ms=5), into a topic with the same partitions.
#   3. Kafka's ConsumerPerformance reading footfall's topic, and `footfall process --once` (one
#      consumer-group member: parse, dedup, identity, sessions, windows, Delta commits).
#
#   bench/kafka.sh [SECONDS]        (needs: cargo build --release -p footfall -p footfall-bench)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
SECONDS_LOAD=${1:-10}
BIN=$CARGO_TARGET_DIR/release
WORK=$(mktemp -d /tmp/footfall-kafka-bench.XXXXXX)
PORT=$((30000 + RANDOM % 20000))
cleanup() { bash scripts/kafka.sh stop "$WORK/kafka" || true; rm -rf "$WORK"; }
trap cleanup EXIT

bash scripts/kafka.sh start "$WORK/kafka" "$PORT"
BROKERS=127.0.0.1:$PORT
for topic in footfall.events perf.events; do bash scripts/kafka.sh topic "$WORK/kafka" "$topic" 6; done
bash scripts/kafka.sh topic "$WORK/kafka" footfall.dlq 1
cat >"$WORK/footfall.toml" <<CONF
[log]
backend = "kafka"
[kafka]
brokers = "$BROKERS"
CONF

echo "== 1. footfall collect → Kafka ($SECONDS_LOAD s closed loop, then 10 s open loop at 50,000 events/s)"
"$BIN/ingest-bench" --footfall "$BIN/footfall" --collect --config "$WORK/footfall.toml" --no-baseline \
  --seconds "$SECONDS_LOAD" --data "$WORK/collect" | tee "$WORK/collect.txt"
FOOTFALL_RATE=$(sed -n 's/.*throughput: *\([0-9]*\) events\/s.*/\1/p' "$WORK/collect.txt")
RECORDS=$(bash scripts/kafka.sh tool org.apache.kafka.tools.GetOffsetShell --bootstrap-server "$BROKERS" \
  --topic footfall.events | awk -F: '{s += $3} END {print s}')
echo "footfall.events holds $RECORDS records"

# The producer tool's payloads: 20,000 of the records footfall stored.
kcat -C -b "$BROKERS" -t footfall.events -c 20000 -e -q -f '%s\n' >"$WORK/payloads.txt"
SIZE=$(awk '{b += length($0)} END {printf "%.0f", b / NR}' "$WORK/payloads.txt")
echo "record size: $SIZE bytes on average"

echo "== 2. Kafka ProducerPerformance, the same records and producer settings"
bash scripts/kafka.sh tool org.apache.kafka.tools.ProducerPerformance --topic perf.events \
  --num-records "$RECORDS" --throughput -1 --payload-file "$WORK/payloads.txt" \
  --producer-props bootstrap.servers="$BROKERS" acks=all enable.idempotence=true linger.ms=5 \
  | tail -1 | tee "$WORK/producer.txt"
TOOL_RATE=$(sed -n 's/.* records sent, \([0-9.]*\) records\/sec.*/\1/p' "$WORK/producer.txt")

echo "== 3. Kafka ConsumerPerformance on footfall.events"
bash scripts/kafka.sh tool org.apache.kafka.tools.ConsumerPerformance --bootstrap-server "$BROKERS" \
  --topic footfall.events --messages "$RECORDS" --group perf-consumer | tail -2 | tee "$WORK/consumer.txt"
CONSUMER_RATE=$(tail -1 "$WORK/consumer.txt" | awk -F', *' '{print $6}')

echo "== 3'. footfall process --once on footfall.events"
START=$(date +%s.%N)
"$BIN/footfall" --config "$WORK/footfall.toml" process --once --idle-seconds 2 --data "$WORK/process" 2>&1 | tail -1
END=$(date +%s.%N)
PROCESS_RATE=$(awk -v n="$RECORDS" -v s="$START" -v e="$END" 'BEGIN {printf "%.0f", n / (e - s - 2)}')

echo "== 4. end to end on unique events: footfall simulate → collect → Kafka, then footfall process"
bash scripts/kafka.sh topic "$WORK/kafka" unique.events 6
sed 's/^brokers = .*/&\ntopic = "unique.events"\ngroup = "unique"/' "$WORK/footfall.toml" >"$WORK/unique.toml"
"$BIN/footfall" --config "$WORK/unique.toml" collect --listen 127.0.0.1:$((PORT + 1)) --write-key bench --data "$WORK/c2" \
  2>"$WORK/collect2.log" &
COLLECT=$!
for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$((PORT + 1))) 2>/dev/null && break; sleep 0.1; done
START=$(date +%s.%N)
"$BIN/footfall" simulate --users 20000 --days 2 --concurrency 8 --batch-size 100 --end 2026-11-20T00:00:00Z \
  --to http://127.0.0.1:$((PORT + 1)) --write-key bench 2>&1 | tail -1
MID=$(date +%s.%N)
kill -TERM $COLLECT; wait $COLLECT || true
UNIQUE=$(bash scripts/kafka.sh tool org.apache.kafka.tools.GetOffsetShell --bootstrap-server "$BROKERS" \
  --topic unique.events | awk -F: '{s += $3} END {print s}')
P0=$(date +%s.%N)
"$BIN/footfall" --config "$WORK/unique.toml" process --once --idle-seconds 2 --data "$WORK/process2" 2>&1 | tail -1
P1=$(date +%s.%N)
SIM_RATE=$(awk -v n="$UNIQUE" -v s="$START" -v e="$MID" 'BEGIN {printf "%.0f", n / (e - s)}')
UNIQUE_RATE=$(awk -v n="$UNIQUE" -v s="$P0" -v e="$P1" 'BEGIN {printf "%.0f", n / (e - s - 2)}')

echo
echo "== summary (records of $SIZE bytes)"
printf "footfall collect → Kafka (HTTP, acks=all):   %10s records/s\n" "$FOOTFALL_RATE"
printf "Kafka ProducerPerformance (acks=all):        %10.0f records/s\n" "$TOOL_RATE"
printf "  footfall ÷ producer tool:                  %10s\n" "$(awk -v a="$FOOTFALL_RATE" -v b="$TOOL_RATE" 'BEGIN {printf "%.0f%%", 100 * a / b}')"
printf "Kafka ConsumerPerformance:                   %10.0f records/s\n" "$CONSUMER_RATE"
printf "footfall process (consume → Delta, 1 member):%10s records/s (wall time less the 2 s idle stop)\n" "$PROCESS_RATE"
printf "  footfall process ÷ consumer tool:          %10s\n" "$(awk -v a="$PROCESS_RATE" -v b="$CONSUMER_RATE" 'BEGIN {printf "%.0f%%", 100 * a / b}')"
printf "unique events (%s): simulate → collect → Kafka %s/s (generator on the same cores); process → Delta %s/s\n" \
  "$UNIQUE" "$SIM_RATE" "$UNIQUE_RATE"
