#!/usr/bin/env bash
# Refreshes tests/deploy/tools-constraints.txt, the lock of the deploy-lint tools venv
# (.venv-tools, made by tests/run.sh): checkov and kubernetes-validate have dependency trees
# that clash with the project's own pins, so they live apart. Change the versions below,
# run this, run `bash tests/run.sh tests/deploy` (it reinstalls because the lock changed),
# and commit the lock if the tests pass.
set -euo pipefail
cd "$(dirname "$0")/../.."
TOOLS=("checkov==3.3.30" "kubernetes-validate==1.37.0")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
PIP="$work/venv/bin/python -m pip"
$PIP install -q "pip==26.3"
$PIP install -q "${TOOLS[@]}"
{
  echo "# The deploy-lint tools' lock (constraints for pip -c), made by tests/deploy/tools-lock.sh on $(date -u +%F)."
  echo "# tests/run.sh installs checkov and kubernetes-validate from it into .venv-tools."
  $PIP freeze
} > tests/deploy/tools-constraints.txt
echo "tests/deploy/tools-constraints.txt: $(grep -vc '^#' tests/deploy/tools-constraints.txt) pinned packages"
