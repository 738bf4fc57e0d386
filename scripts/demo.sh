#!/usr/bin/env bash
# Install qbutler into .venv and run `qbutler demo`: a simulated Sense site plus qbutler.
# Extra arguments go to `qbutler demo` (e.g. --check, --port 8080, --dir ./demo).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ] && [ "$(id -u)" = 0 ] \
    && command -v apt-get >/dev/null 2>&1; then
  # Optional: the demo shows MQTT when a broker binary is available.
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto >/dev/null) || true
fi
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[sim]'
exec .venv/bin/qbutler demo "$@"
