"""Writes deploy/kubernetes/monitoring/prometheusrule.yaml from deploy/prometheus/rules/*.yml, so
the Prometheus Operator loads the same rules as the compose stack. test_kubernetes.py fails
when the two drift; then run:  python -m tests.deploy.prometheus_rule
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy/prometheus/rules"
RULE_FILES = ("recording.yml", "alerts.yml")  # recording first: the alerts read them
TARGET = REPO / "deploy/kubernetes/monitoring/prometheusrule.yaml"

HEADER = """\
# GENERATED from deploy/prometheus/rules/{files} by
# `python -m tests.deploy.prometheus_rule`: edit those files, not this one
# (tests/deploy/test_kubernetes.py fails when they differ).
# The shipped recording and alert rules for the Prometheus Operator. Your Prometheus must
# select this object (often by a label such as `release: <prometheus release>`: add it in
# your overlay).
"""


def rule_groups() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = []
    for name in RULE_FILES:
        groups.extend(yaml.safe_load((RULES / name).read_text())["groups"])
    return groups


def prometheus_rule() -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "safety-proxy",
                     "labels": {"app.kubernetes.io/name": "safety-proxy",
                                "app.kubernetes.io/part-of": "safety-proxy"}},
        "spec": {"groups": rule_groups()},
    }


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings (PromQL, runbooks) as literal blocks, like the rule files."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str)


def render() -> str:
    body = yaml.dump(prometheus_rule(), Dumper=_BlockDumper, sort_keys=False, width=100,
                     allow_unicode=True)
    return HEADER.format(files=" and ".join(RULE_FILES)) + body


if __name__ == "__main__":
    TARGET.write_text(render())
    print(f"wrote {TARGET.relative_to(REPO)}")
