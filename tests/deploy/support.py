"""Shared by the Kubernetes tests: rendering the overlays with `kubectl kustomize`, and the
deploy-lint tools (checkov, kubernetes-validate) from their own venv (tests/run.sh makes
it; TOOLS_VENV names it, .venv-tools by default).

A missing tool skips a test on a developer's machine but fails it under CI (``CI`` set), so
CI can never pass by silently skipping the real checks.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
KUBERNETES = REPO / "deploy" / "kubernetes"
OVERLAYS = ("single", "replicated", "external-redis")
# Kinds from the Prometheus Operator's CRDs: no built-in schema, checked structurally.
CRD_KINDS = frozenset({"ServiceMonitor", "PrometheusRule"})


def missing(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def kubectl() -> str:
    path = shutil.which("kubectl")
    if path is None:
        missing("kubectl not found: apt-get install kubernetes-client (or run tests/run.sh)")
    return str(path)


def lint_tool(name: str) -> str:
    """A binary of the tools venv (checkov, kubernetes-validate)."""
    venv = Path(os.environ.get("TOOLS_VENV", ".venv-tools"))
    path = (venv if venv.is_absolute() else REPO / venv) / "bin" / name
    if not path.is_file():
        missing(f"{path} not found: run `bash tests/run.sh tests/deploy` (it installs the "
                "deploy-lint tools from tests/deploy/tools-constraints.txt)")
    return str(path)


@functools.cache
def _rendered_text(overlay: str) -> str:
    done = subprocess.run([kubectl(), "kustomize", str(KUBERNETES / "overlays" / overlay)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"kubectl kustomize {overlay}:\n{done.stderr}"
    return done.stdout


def render(overlay: str) -> list[dict[str, Any]]:
    """The overlay's objects, as `kubectl apply -k` would send them (a fresh copy)."""
    return [doc for doc in yaml.safe_load_all(_rendered_text(overlay)) if doc]


def find(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [obj for obj in objects
             if obj["kind"] == kind and name in (None, obj["metadata"]["name"])]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def write_objects(objects: list[dict[str, Any]], folder: Path) -> list[Path]:
    """One file per object (validators report per file)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, obj in enumerate(objects):
        path = folder / f"{index:02d}-{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"
        path.write_text(yaml.safe_dump(obj, sort_keys=False))
        paths.append(path)
    return paths
