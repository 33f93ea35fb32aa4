#!/usr/bin/env bash
# Installs the official Segment SDKs for the interoperability tests: segment-analytics-python
# and pytest in a virtualenv (kept between runs), @segment/analytics-node with npm.
# Does nothing for what is already installed.
set -euo pipefail
cd "$(dirname "$0")"
VENV="${FOOTFALL_VENV:-$HOME/.cache/footfall-venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
if ! cmp -s requirements.txt "$VENV/.footfall-requirements" 2>/dev/null; then
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r requirements.txt
  cp requirements.txt "$VENV/.footfall-requirements"
fi
if [ ! -d node_modules/@segment/analytics-node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
