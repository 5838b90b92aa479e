#!/usr/bin/env bash
# Refreshes tests/constraints.txt, the lock of the test environment: resolves the
# project's dependencies and test extras anew in a throwaway venv (newest releases that
# fit pyproject.toml) and writes every resolved version. Run it, run `bash tests/run.sh`
# (which reinstalls because the lock changed), and commit the lock if the suite passes.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
PIP="$work/venv/bin/python -m pip"
$PIP install -q "pip==26.3"
$PIP install -q "torch==2.13.0"
$PIP install -q ".[dev,tune,semantic,detoxify,onnx,otel,serve,language]"
{
  echo "# The test environment's lock (constraints for pip -c), made by tests/lock.sh on $(date -u +%F)."
  echo "# Users installing the project do not need it; tests/run.sh installs with it."
  $PIP freeze --exclude-editable | grep -v '^safety-proxy' | sed 's/^torch==2.13.0+cpu$/torch==2.13.0/'
} > tests/constraints.txt
echo "tests/constraints.txt: $(grep -vc '^#' tests/constraints.txt) pinned packages"
