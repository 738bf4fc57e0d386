#!/usr/bin/env bash
# Install everything the test suite needs on a fresh machine, then run it.
# The fixtures start their own mosquitto, redis-server, PostgreSQL (initdb/pg_ctl) and influxd on
# free loopback ports; where those binaries are missing and we run as root, they are installed
# from Debian's packages. promtool (prometheus) checks the /metrics output.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v git >/dev/null 2>&1 || need+=(git)
command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v influxd >/dev/null 2>&1 || need+=(influxdb)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "missing: ${need[*]} (install them, or run as root so this script can)" >&2
  fi
fi

# Handlebars.js, the oracle of the template engine's differential tests (tests/handlebars); those
# tests skip, saying why, where node or npm is missing.
if command -v npm >/dev/null 2>&1; then
  (cd tests/handlebars/js && npm ci --no-audit --no-fund --loglevel=error)
else
  echo "npm not found: the Handlebars.js differential tests will be skipped" >&2
fi

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
.venv/bin/ruff check src tests bench
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
