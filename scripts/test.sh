#!/usr/bin/env bash
# Runs every test of footfall on this machine, installing what they need first:
# Rust unit, property and end-to-end tests (real server processes, kill -9), then the
# official Segment SDKs (Python and Node) sending to the real binary, then the dashboard in
# headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh

cargo test --workspace --locked

export FOOTFALL_BIN="$CARGO_TARGET_DIR/debug/footfall"
VENV="${FOOTFALL_VENV:-$HOME/.cache/footfall-venv}"
"$VENV/bin/python" -m pytest -q tests

# The dashboard in a real browser (Debian's chromium via playwright-core); screenshots of every
# page land in web/test-artifacts.
node --test web/tests/
