#!/usr/bin/env bash
# Installs the dashboard's npm packages (echarts, @segment/analytics-next, esbuild,
# playwright-core) with `npm ci` into web/node_modules, and Node.js itself from Debian when it
# is missing. The footfall crate's build script bundles web/src with them and embeds the result.
# Idempotent: `npm ci` runs only when package-lock.json changed since the last install.
set -euo pipefail
cd "$(dirname "$0")"
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }
if ! command -v npm >/dev/null 2>&1; then
  echo "setup: installing Node.js and npm (the dashboard is built with them)" >&2
  as_root apt-get update -qq && as_root apt-get install -y -qq nodejs npm >/dev/null
fi
if [ ! -d node_modules/echarts ] || ! cmp -s package-lock.json node_modules/.footfall-package-lock.json; then
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
  cp package-lock.json node_modules/.footfall-package-lock.json
fi
