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
# The dashboard's browser tests: Debian's chromium (Playwright drives it; no downloaded browser)
# and npm for axe-core.
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v npm >/dev/null 2>&1 || need+=(npm)
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

# Node packages of the suites that drive real JavaScript clients: Handlebars.js (the oracle of
# tests/handlebars) and enigma.js (tests/enigma); those tests skip, saying why, without npm.
if command -v npm >/dev/null 2>&1; then
  (cd tests/handlebars/js && npm ci --no-audit --no-fund --loglevel=error)
  (cd tests/enigma && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
else
  echo "npm not found: the Handlebars.js and enigma.js tests will be skipped" >&2
fi

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
if command -v npm >/dev/null 2>&1; then
  npm ci --prefix tests/web --no-audit --no-fund --silent
fi
.venv/bin/ruff check src tests bench
# Spawned qbutler and sensesim processes load bytecode as an installed qbutler does, instead of
# compiling every module on every start when the shell sets PYTHONDONTWRITEBYTECODE.
unset PYTHONDONTWRITEBYTECODE
exec .venv/bin/python -m pytest -q -p no:cacheprovider -n 2 --dist loadfile "$@"
