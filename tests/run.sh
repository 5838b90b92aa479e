#!/usr/bin/env bash
# The one test command (README): sets up everything the suite needs on a fresh Debian
# machine, then runs lint, types and the whole suite.
#   bash tests/run.sh [pytest args...]        e.g. bash tests/run.sh -m "not slow" tests/proxy
# Re-runs are quick: Debian packages are installed only when missing, and the virtual
# environment is (re)installed only when pyproject.toml or tests/constraints.txt changed
# (a stamp in the venv records their hash). The project is installed in editable mode, so
# code changes need no reinstall. SKIP_LINT=1 skips ruff and mypy.
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
LOCK=tests/constraints.txt
EXTRAS="dev,tune,semantic,detoxify,onnx"
PIP_VERSION=26.3
want=$(cat pyproject.toml "$LOCK" <(echo "$EXTRAS $PIP_VERSION") | sha256sum | cut -c1-16)
stamp="$VENV/.safety-proxy-installed"
if [ ! -x "$VENV/bin/python" ]; then
  echo "== creating $VENV"
  python3 -m venv "$VENV"
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "== installing the test environment from $LOCK"
  PIP="$VENV/bin/python -m pip"
  $PIP install -q "pip==$PIP_VERSION"
  # torch first, pinned: any other torch requirement would pull gigabytes of CUDA wheels.
  $PIP install -q -c "$LOCK" "torch==2.13.0"
  $PIP install -q -c "$LOCK" -e ".[$EXTRAS]"
  echo "$want" > "$stamp"
else
  echo "== test environment up to date ($LOCK)"
fi

if [ -z "${SKIP_LINT:-}" ]; then
  echo "== lint and types"
  $VENV/bin/ruff check proxy classifiers tests bench
  $VENV/bin/mypy
fi

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
