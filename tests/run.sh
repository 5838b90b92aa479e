#!/usr/bin/env bash
# The one test command (README): sets up everything the suite needs on a fresh Debian
# machine, then runs the whole suite. Safe to re-run; skips what is already in place.
#   bash tests/run.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(redis-server prometheus)
missing=()
for tool in redis-server prometheus promtool; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
  echo "== installing Debian packages (missing: ${missing[*]})"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${APT_PACKAGES[@]}" >/dev/null
fi

VENV=${VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  echo "== creating $VENV"
  python3 -m venv "$VENV"
fi
PIP="$VENV/bin/python -m pip"
$PIP install -q --upgrade pip
# torch first, pinned: any other torch requirement would pull gigabytes of CUDA wheels.
$VENV/bin/python -c "import torch" 2>/dev/null || $PIP install -q "torch==2.13.0"
$PIP install -q -e ".[dev,tune,semantic,detoxify,onnx]"

echo "== lint and types"
$VENV/bin/ruff check proxy classifiers tests bench
$VENV/bin/mypy

echo "== tests"
set +e
$VENV/bin/python -m pytest -q -p no:cacheprovider "$@"
code=$?
set -e
if [ "$code" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit "$code"
