#!/usr/bin/env bash
# Builds footfall (release) and runs `footfall demo`: a collector on 127.0.0.1:8080 (or a free
# port) fed by live simulated shoppers. Extra arguments go to `footfall demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --rust-only
source scripts/env.sh
cargo build --release --locked -p footfall
exec "$CARGO_TARGET_DIR/release/footfall" demo "$@"
