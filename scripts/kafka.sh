#!/usr/bin/env bash
# A throwaway single-node Apache Kafka broker (KRaft: broker and controller in one process, no
# ZooKeeper) on 127.0.0.1 for tests and benchmarks, from Kafka's jars on Maven Central.
#
#   scripts/kafka.sh install                      jars into the cache (once; skipped if present)
#   scripts/kafka.sh start DIR [PORT]             config, data and log under DIR; clients on PORT (9092)
#   scripts/kafka.sh stop DIR                     stops the broker started over DIR
#   scripts/kafka.sh topic DIR NAME PARTITIONS    creates a topic (replication 1) on that broker
#   scripts/kafka.sh tool CLASS [ARGS...]         runs a Kafka tool, e.g. org.apache.kafka.tools.ProducerPerformance
#
# With FOOTFALL_KAFKA_PARENT_PID set, the broker is stopped when that process exits.
# With FOOTFALL_KAFKA_SASL_PORT set, start also opens a SASL_PLAINTEXT listener on that port
# with the PLAIN mechanism and one user, footfall / footfall-secret (to test that security
# settings pass through to librdkafka).
#
# The jars come from deploy/kafka/pom.xml through Maven, into $FOOTFALL_KAFKA_JARS (default
# ~/.cache/footfall-kafka/jars-VERSION) with Maven's own cache in ~/.cache/footfall-kafka/m2, so
# CI can keep both. Each start has its own directory and port, so tests can run brokers side by
# side and stop one mid-run; starting again over the same DIR keeps its topics and messages.
set -euo pipefail

VERSION=${FOOTFALL_KAFKA_VERSION:-4.4.0}
CACHE=$HOME/.cache/footfall-kafka
JARS=${FOOTFALL_KAFKA_JARS:-$CACHE/jars-$VERSION}
DEPLOY=$(cd "$(dirname "$0")/../deploy/kafka" && pwd)

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }

install() {
  [ -f "$JARS/kafka_2.13-$VERSION.jar" ] && return 0
  if ! command -v java >/dev/null 2>&1 || ! command -v mvn >/dev/null 2>&1; then
    echo "kafka.sh: installing Java and Maven from Debian's packages" >&2
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq default-jre-headless maven >/dev/null
  fi
  echo "kafka.sh: fetching Kafka $VERSION's jars with Maven into $JARS" >&2
  # Into a temporary directory first, so that a failed fetch never passes for an installed one.
  local tmp="$JARS.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$(dirname "$JARS")"
  if ! mvn -B -q -f "$DEPLOY/pom.xml" -Dmaven.repo.local="$CACHE/m2" -Dkafka.version="$VERSION" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" >"$tmp.log" 2>&1; then
    echo "kafka.sh: Maven failed; its output:" >&2
    cat "$tmp.log" >&2
    rm -rf "$tmp" "$tmp.log"
    return 1
  fi
  rm -rf "$JARS" "$tmp.log"
  mv "$tmp" "$JARS"
}

# Runs a Kafka class (a tool, or the storage format) with the jars; its logs are warnings only.
tool() {
  java -Xmx512m -Djava.awt.headless=true -Dlog4j2.configurationFile="$DEPLOY/tools-log4j2.properties" \
    -cp "$JARS/*" "$@"
}

# A port on 127.0.0.1 that nothing answers on, other than $1.
free_port() {
  local p
  for _ in $(seq 1 100); do
    p=$((20000 + RANDOM % 40000))
    [ "$p" != "$1" ] || continue
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
  done
  echo "kafka.sh: found no free port for the controller" >&2
  return 1
}

start() {
  local dir=$1 port=${2:-9092} cport="" id pid
  install
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [ -f "$dir/kafka.pid" ] && kill -0 "$(cat "$dir/kafka.pid")" 2>/dev/null; then
    echo "kafka.sh: a broker is already running over $dir (pid $(cat "$dir/kafka.pid"))" >&2
    return 1
  fi
  # The controller's address is written into the metadata when the storage is formatted, so a
  # start over a formatted DIR keeps the controller port it had.
  if [ -f "$dir/data/meta.properties" ] && [ -f "$dir/server.properties" ]; then
    cport=$(sed -n 's/^controller\.quorum\.bootstrap\.servers=127\.0\.0\.1://p' "$dir/server.properties")
  fi
  [ -n "$cport" ] || cport=$(free_port "$port")
  local sasl_port=${FOOTFALL_KAFKA_SASL_PORT:-} listeners advertised protocols
  listeners="PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport"
  protocols="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
  if [ -n "$sasl_port" ]; then
    listeners="$listeners,SASL_PLAINTEXT://127.0.0.1:$sasl_port"
    protocols="$protocols,SASL_PLAINTEXT:SASL_PLAINTEXT"
  fi
  cat >"$dir/server.properties" <<CONF
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$cport
listeners=$listeners
advertised.listeners=$listeners
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$protocols
log.dirs=$dir/data
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
CONF
  if [ -n "$sasl_port" ]; then
    cat >>"$dir/server.properties" <<CONF
sasl.enabled.mechanisms=PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_footfall="footfall-secret";
CONF
  fi
  echo "$port" >"$dir/kafka.port"
  if [ ! -f "$dir/data/meta.properties" ]; then
    # A random cluster id (16 bytes, URL-safe base64, as Kafka's own) and this node as the
    # quorum's only voter.
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
    while [ "${id:0:1}" = "-" ]; do id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '='); done
    if ! tool kafka.tools.StorageTool format --standalone -t "$id" -c "$dir/server.properties" \
      >"$dir/format.log" 2>&1; then
      echo "kafka.sh: formatting $dir/data failed:" >&2
      cat "$dir/format.log" >&2
      return 1
    fi
  fi
  java -Xms256m -Xmx512m -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$DEPLOY/log4j2.properties" \
    -cp "$JARS/*" kafka.Kafka "$dir/server.properties" </dev/null >"$dir/kafka.log" 2>&1 &
  pid=$!
  echo "$pid" >"$dir/kafka.pid"
  # Tests pass their pid: the broker then goes when they do, even if they never call stop.
  if [ -n "${FOOTFALL_KAFKA_PARENT_PID:-}" ]; then
    (
      while kill -0 "$FOOTFALL_KAFKA_PARENT_PID" 2>/dev/null && kill -0 "$pid" 2>/dev/null; do sleep 1; done
      kill "$pid" 2>/dev/null
    ) </dev/null >/dev/null 2>&1 &
  fi
  # The broker logs this once it has caught up with the metadata and been let in (unfenced).
  for _ in $(seq 1 600); do
    if grep -q 'Kafka Server started' "$dir/kafka.log" && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "kafka.sh: Kafka $VERSION on 127.0.0.1:$port (data in $dir)" >&2
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "kafka.sh: the broker exited; its log:" >&2
      cat "$dir/kafka.log" >&2
      rm -f "$dir/kafka.pid"
      return 1
    fi
    sleep 0.1
  done
  echo "kafka.sh: Kafka was not ready on port $port within 60 s; its log:" >&2
  cat "$dir/kafka.log" >&2
  return 1
}

stop() {
  local dir=$1 pid
  [ -f "$dir/kafka.pid" ] || return 0
  pid=$(cat "$dir/kafka.pid")
  kill "$pid" 2>/dev/null || true
  # A clean shutdown flushes the logs and spares the next start a recovery: give it 30 s.
  for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$dir/kafka.pid"
}

topic() {
  local dir=$1 name=$2 partitions=$3
  install
  tool org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$(cat "$dir/kafka.port")" \
    --create --if-not-exists --topic "$name" --partitions "$partitions" --replication-factor 1 >/dev/null
}

case "${1:-}" in
  install) install ;;
  start) start "${2:?data directory}" "${3:-9092}" ;;
  stop) stop "${2:?data directory}" ;;
  topic) topic "${2:?data directory}" "${3:?topic name}" "${4:?number of partitions}" ;;
  tool) shift; install; tool "${@:?class name}" ;;
  *) echo "usage: $0 install | start DIR [PORT] | stop DIR | topic DIR NAME PARTITIONS | tool CLASS [ARGS...]" >&2; exit 2 ;;
esac
