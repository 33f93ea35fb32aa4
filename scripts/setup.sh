#!/usr/bin/env bash
# Installs what building and testing footfall needs, skipping whatever is already there.
# Safe to run again and again: each step checks first.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }

if ! command -v cargo >/dev/null 2>&1; then
  echo "footfall needs Rust (cargo): install it with rustup first" >&2
  exit 1
fi

# Debian packages: mold (fast linking). Optional: the build works without it.
if ! command -v mold >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  echo "setup: installing mold" >&2
  (as_root apt-get update -qq && as_root apt-get install -y -qq mold >/dev/null) ||
    echo "setup: could not install mold; linking with the default linker" >&2
fi

# librdkafka (built from source by the rdkafka crate) needs a C toolchain, make, pkg-config and
# OpenSSL's headers (TLS and SASL/SCRAM for Kafka).
missing=()
for tool in cc make pkg-config; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ] || ! pkg-config --exists openssl 2>/dev/null; then
  if command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing librdkafka's build dependencies" >&2
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq build-essential pkg-config libssl-dev zlib1g-dev >/dev/null
  else
    echo "setup: install a C compiler, make, pkg-config and OpenSSL's headers (libssl-dev)" >&2
  fi
fi

# The dashboard's npm packages: the footfall crate's build script bundles web/src with them.
bash web/setup.sh

# InfluxDB 1.x (Debian's package) for the time-series sink's tests against a real server.
if [ "${1:-}" != "--rust-only" ]; then
  bash scripts/influxdb.sh install || echo "setup: could not install influxdb; its tests will fail" >&2
fi

# Apache Kafka's broker jars (Maven Central, cached) and kcat (a third-party producer) for the
# tests against a real broker.
if [ "${1:-}" != "--rust-only" ]; then
  bash scripts/kafka.sh install || echo "setup: could not fetch Kafka's jars; the Kafka tests will fail" >&2
  if ! command -v kcat >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing kcat" >&2
    (as_root apt-get update -qq && DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq kcat >/dev/null) ||
      echo "setup: could not install kcat; its Kafka test will fail" >&2
  fi
fi

# Chromium (Debian's) for the dashboard's browser tests.
if [ "${1:-}" != "--rust-only" ] && ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  echo "setup: installing chromium" >&2
  (as_root apt-get update -qq && DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends chromium >/dev/null) ||
    echo "setup: could not install chromium; the dashboard's browser tests will fail" >&2
fi

# The official Segment SDKs (Python, Node) for the interoperability tests.
if [ "${1:-}" != "--rust-only" ]; then
  bash tests/sdk/setup.sh
fi
