#!/usr/bin/env bash
# Build an offline install bundle of qbutler for a server without internet access.
#
#   scripts/bundle.sh --platform win_amd64 [--python 3.11] [--out dist/bundle]
#   scripts/bundle.sh --platform manylinux2014_x86_64 [--python 3.12]
#
# The bundle is a folder (and a .zip of it) holding every wheel qbutler needs on that platform and
# Python version, plus install.ps1 (Windows) or install.sh (Linux), which install with
# `pip --no-index` from the folder alone. Runs where pip can reach the package index.
set -euo pipefail
cd "$(dirname "$0")/.."

platform="" python_version="3.11" out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --platform) platform="$2"; shift 2 ;;
    --python) python_version="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "bundle.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$platform" in
  win_amd64) kind=windows ;;
  manylinux*_x86_64|manylinux*_aarch64|musllinux*) kind=linux ;;
  *) echo "bundle.sh: --platform win_amd64 or manylinux2014_x86_64 (or another manylinux tag)" >&2; exit 2 ;;
esac
version=$(python3 -c "import tomllib;print(tomllib.load(open('pyproject.toml','rb'))['project']['version'])")
out="${out:-dist/qbutler-${version}-${platform}-py${python_version}}"
rm -rf "$out" && mkdir -p "$out/wheels"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# 1. qbutler's own wheel, and wheels built here for dependencies published only as source
#    (pure Python, so one wheel fits every platform).
python3 -m pip wheel -q --no-deps -w "$out/wheels" .
python3 -m pip wheel -q -w "$work/built" "$out"/wheels/qbutler-*.whl

# 2. Every dependency as a binary wheel for the target, resolved against the target's markers
#    (pip_for_platform.py: pip alone would evaluate sys_platform and friends for this machine).
python_nodot="${python_version//./}"
python3 scripts/pip_for_platform.py "$kind" "$python_version" -- download -q --only-binary=:all: \
  --platform "$platform" --python-version "$python_version" --implementation cp --abi "cp${python_nodot}" \
  --find-links "$work/built" -d "$out/wheels" "$(ls "$out"/wheels/qbutler-*.whl)"

if [ "$kind" = windows ]; then
  cat > "$out/install.ps1" <<'PS1'
# Install qbutler from this folder only (no internet): a virtual environment in -Target.
#   powershell -ExecutionPolicy Bypass -File install.ps1 [-Target C:\qbutler] [-Python py]
param([string]$Target = "C:\qbutler", [string]$Python = "py")
$ErrorActionPreference = "Stop"
$here = Split-Path -Parent $MyInvocation.MyCommand.Path
& $Python -m venv "$Target\venv"
& "$Target\venv\Scripts\python.exe" -m pip install --no-index --find-links "$here\wheels" qbutler
& "$Target\venv\Scripts\python.exe" -m pywin32_postinstall -install -quiet
& "$Target\venv\Scripts\qbutler.exe" --version
Write-Host "Installed. Next: $Target\venv\Scripts\qbutler.exe config example > $Target\qbutler.yaml, edit it,"
Write-Host "qbutler doctor -c $Target\qbutler.yaml, then (as Administrator) qbutler service install -c $Target\qbutler.yaml"
PS1
else
  cat > "$out/install.sh" <<'SH'
#!/usr/bin/env bash
# Install qbutler from this folder only (no internet) into a virtual environment.
#   bash install.sh [TARGET (default /opt/qbutler)] [PYTHON (default python3)]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
target="${1:-/opt/qbutler}"
python="${2:-python3}"
"$python" -m venv "$target/venv"
"$target/venv/bin/python" -m pip install -q --no-index --find-links "$here/wheels" qbutler
"$target/venv/bin/qbutler" --version
echo "Installed in $target/venv. Next: qbutler config example > qbutler.yaml, qbutler doctor -c qbutler.yaml,"
echo "then run it under systemd: qbutler.service in this folder (docs/installation.md, 'Linux (systemd)')."
SH
  chmod +x "$out/install.sh"
  # The systemd unit travels with the wheels: an offline server has no checkout to take it from.
  cp docs/qbutler.service "$out/qbutler.service"
fi
python3 -c "import shutil,sys; shutil.make_archive(sys.argv[1], 'zip', sys.argv[1])" "$out"
echo "$out ($(ls "$out/wheels" | wc -l) wheels) and $out.zip"
