#!/usr/bin/env bash
# Runs every fuzz target of fuzz/ (libFuzzer through cargo-fuzz, on nightly Rust) for a bounded
# time each, starting from the committed corpus in fuzz/corpus/TARGET. A crash fails the run and
# leaves its input in fuzz/artifacts/TARGET/. Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
seconds="${1:-20}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(message batch event_time stored_record raw_row)

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "fuzz: installing the nightly toolchain (cargo-fuzz needs it)" >&2
  rustup toolchain install nightly --profile minimal >&2
fi
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked --quiet
fi
# Instrumented builds differ from the dev build: a target directory of their own.
export CARGO_TARGET_DIR="${FOOTFALL_FUZZ_TARGET_DIR:-$HOME/.cache/footfall-target-fuzz}"
unset RUSTFLAGS
cd fuzz
cargo +nightly fuzz build -O
log="$(mktemp)"
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  echo "fuzz: $target for ${seconds}s" >&2
  status=0
  cargo +nightly fuzz run -O "$target" "corpus/$target" -- -max_total_time="$seconds" -max_len=70000 -timeout=10 \
    -print_final_stats=1 >"$log" 2>&1 || status=$?
  grep -E "^stat::(number_of_executed_units|new_units_added)|panicked|SUMMARY|Test unit written" "$log" >&2 || true
  if [ "$status" -ne 0 ]; then
    tail -n 40 "$log" >&2
    echo "fuzz: $target failed (exit $status); the input is in fuzz/artifacts/$target/" >&2
    exit "$status"
  fi
done
