#!/usr/bin/env bash
# Builds footfall and runs `footfall demo`: a collector on 127.0.0.1:8080 (or a free port)
# fed by live simulated shoppers, loading the lake as it goes. Extra arguments go to
# `footfall demo`.
#
# The dev profile is used on purpose: it shares its build with `scripts/test.sh` (dependencies
# are optimized in it, see Cargo.toml), and a separate release build of DataFusion and Delta
# Lake takes close to half an hour on a 2-core machine. The demo's load is light.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --rust-only
source scripts/env.sh
cargo build --locked -p footfall
exec "$CARGO_TARGET_DIR/debug/footfall" demo "$@"
