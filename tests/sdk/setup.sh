#!/usr/bin/env bash
# Installs what the Python tests need: segment-analytics-python, pytest and the rest of
# requirements.txt in a virtualenv kept between runs (${FOOTFALL_VENV:-$HOME/.cache/footfall-venv}),
# and @segment/analytics-node with `npm ci` (tests/sdk/node_modules).
# Idempotent and quiet: each step runs only when what it installs is missing or out of date
# (a copy of requirements.txt / package-lock.json kept beside the install says what it holds).
set -euo pipefail
cd "$(dirname "$0")"
VENV="${FOOTFALL_VENV:-$HOME/.cache/footfall-venv}"

if ! "$VENV/bin/python" -c '' >/dev/null 2>&1; then
  # Missing, or broken (e.g. the Python it was made from is gone): make it anew.
  python3 -m venv --clear "$VENV"
fi
if ! cmp -s requirements.txt "$VENV/.footfall-requirements"; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements.txt
  cp requirements.txt "$VENV/.footfall-requirements"
fi

if [ ! -d node_modules/@segment/analytics-node ] || ! cmp -s package-lock.json node_modules/.footfall-package-lock.json; then
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
  cp package-lock.json node_modules/.footfall-package-lock.json
fi
