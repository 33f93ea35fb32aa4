#!/usr/bin/env bash
# A throwaway InfluxDB 1.x on 127.0.0.1 for tests and benchmarks, from Debian's package.
#
#   scripts/influxdb.sh install            apt-get install influxdb (once; skipped if present)
#   scripts/influxdb.sh start DIR [PORT]   data, WAL and meta under DIR; HTTP on PORT (8086)
#   scripts/influxdb.sh stop DIR           stops the server started over DIR
#
# The package's own service is not used: each start has its own directory and port, so tests
# can run servers side by side and stop one mid-run.
set -euo pipefail

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }

install() {
  command -v influxd >/dev/null 2>&1 && return 0
  echo "influxdb.sh: installing influxdb from Debian's packages" >&2
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq influxdb >/dev/null
  # The package may start its system service; these tests run their own servers.
  as_root service influxdb stop >/dev/null 2>&1 || true
}

start() {
  local dir=$1 port=${2:-8086}
  install
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  cat >"$dir/influxdb.conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:0"
[meta]
  dir = "$dir/meta"
[data]
  dir = "$dir/data"
  wal-dir = "$dir/wal"
  query-log-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:$port"
  log-enabled = false
  max-body-size = 0
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
CONF
  influxd -config "$dir/influxdb.conf" >"$dir/influxd.log" 2>&1 &
  echo $! >"$dir/influxd.pid"
  for _ in $(seq 1 200); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$port/ping" 2>/dev/null; then
      echo "influxdb.sh: InfluxDB $(influxd version | awk '{print $2}') on 127.0.0.1:$port (data in $dir)" >&2
      return 0
    fi
    if ! kill -0 "$(cat "$dir/influxd.pid")" 2>/dev/null; then
      echo "influxdb.sh: influxd exited; its log:" >&2
      cat "$dir/influxd.log" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "influxdb.sh: InfluxDB did not answer on port $port within 20 s" >&2
  return 1
}

stop() {
  local dir=$1 pid
  [ -f "$dir/influxd.pid" ] || return 0
  pid=$(cat "$dir/influxd.pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$dir/influxd.pid"
}

case "${1:-}" in
  install) install ;;
  start) start "${2:?data directory}" "${3:-8086}" ;;
  stop) stop "${2:?data directory}" ;;
  *) echo "usage: $0 install | start DIR [PORT] | stop DIR" >&2; exit 2 ;;
esac
