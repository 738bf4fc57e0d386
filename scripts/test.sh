#!/usr/bin/env bash
# Install everything the test suite needs on a fresh machine, then run it.
# The fixtures start their own mosquitto and redis-server on free loopback ports; where those
# binaries are missing and we run as root, they are installed from Debian's packages.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v git >/dev/null 2>&1 || need+=(git)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "missing: ${need[*]} (install them, or run as root so this script can)" >&2
  fi
fi

# The enigma.js suite (tests/enigma) needs its Node packages; without Node it skips.
if command -v npm >/dev/null 2>&1; then
  (cd tests/enigma && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
else
  echo "npm not found: the enigma.js tests will be skipped" >&2
fi

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
.venv/bin/ruff check src tests bench
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
