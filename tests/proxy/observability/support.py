"""Shared by the observability tests: the shipped files, the Prometheus tools, and the
queries of the Grafana dashboards with their variables substituted.

A missing ``promtool`` or ``prometheus`` skips a test on a developer's machine but fails it
under CI (``CI`` set), so CI can never pass by silently skipping the real checks.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import generate_latest

from proxy.config.restart import RESTART_ONLY
from proxy.observability.metrics import Metrics

REPO = Path(__file__).resolve().parents[3]
DEPLOY = REPO / "deploy"
RULES_DIR = DEPLOY / "prometheus" / "rules"
RULE_FILES = (RULES_DIR / "recording.yml", RULES_DIR / "alerts.yml")
RULE_TESTS_DIR = DEPLOY / "prometheus" / "tests"
DASHBOARDS_DIR = REPO / "grafana" / "dashboards"
DASHBOARD_FILES = tuple(DASHBOARDS_DIR / f"{name}.json"
                        for name in ("overview", "classifiers", "upstream"))
DATASOURCE_UID = "safety-proxy-prometheus"

# What the e2e test and the syntax check put in place of Grafana's built-in variables.
BUILTIN_VARIABLES = {"__rate_interval": "1m", "__interval": "15s", "__range": "5m"}
VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)")
METRIC_NAME = re.compile(r"\b(safety_proxy_\w+|\w+:safety_proxy_\w+:\w+)")


def tool(name: str) -> str:
    """The path of a Prometheus binary (apt package `prometheus`)."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} not found: apt-get install prometheus"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def rules(kind: str) -> list[dict[str, Any]]:
    """Every rule of the shipped files with a ``record`` or an ``alert`` key."""
    return [rule for path in RULE_FILES for group in load_yaml(path)["groups"]
            for rule in group["rules"] if kind in rule]


def dashboards() -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in DASHBOARD_FILES]


def query_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Panels that show data (rows only group them), nested row panels included."""
    for panel in dashboard.get("panels", []):
        if panel.get("type") == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def variable_values(dashboard: dict[str, Any], threshold: str = "0.5") -> dict[str, str]:
    """One value per dashboard variable, as Grafana would interpolate a regex matcher:
    All (``.*``) where the variable allows it, else its current value."""
    values = dict(BUILTIN_VARIABLES)
    for variable in dashboard["templating"]["list"]:
        name = variable["name"]
        if variable["type"] == "datasource":
            values[name] = DATASOURCE_UID
        elif variable.get("includeAll"):
            values[name] = variable.get("allValue") or ".*"
        else:
            values[name] = str(variable["current"]["value"])
    values["threshold"] = threshold
    return values


def substitute(text: str, values: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group)
        if name not in values:
            raise KeyError(f"undefined dashboard variable ${name} in {text!r}")
        return values[name]
    return VARIABLE.sub(one, text)


def panel_queries() -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every target of every panel, variables substituted."""
    for dashboard in dashboards():
        values = variable_values(dashboard)
        for panel in query_panels(dashboard):
            for target in panel.get("targets", []):
                where = f"{dashboard['uid']} / {panel['title']} / {target.get('refId')}"
                yield where, substitute(target["expr"], values)


def annotation_queries() -> Iterator[tuple[str, str]]:
    """(where, PromQL) of the dashboards' Prometheus annotations (markers on every panel)."""
    for dashboard in dashboards():
        values = variable_values(dashboard)
        for annotation in dashboard["annotations"]["list"]:
            if not annotation.get("builtIn"):
                yield (f"{dashboard['uid']} / annotation {annotation['name']}",
                       substitute(annotation["expr"], values))


def exported_metric_names() -> set[str]:
    """Sample names a running proxy exports (a check, a tenant and a config declared)."""
    metrics = Metrics()
    metrics.declare_checks([("toxicity", ["profane"], ["input", "output"])])
    metrics.declare_tenants(["acme", "other"])
    metrics.set_config_hash("0" * 64)
    metrics.set_restart_required(RESTART_ONLY, ())
    text = generate_latest(metrics.registry).decode()
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines()
            if line and not line.startswith("#")}


def metric_families() -> set[str]:
    """Names of the safety_proxy_* metric families Metrics declares (``_total`` and the like
    not added); prometheus_client's process_* and python_* collectors are left out."""
    return {family.name for family in Metrics().registry.collect()
            if family.name.startswith("safety_proxy_")}


def referenced_metric_names(expr: str) -> set[str]:
    return set(METRIC_NAME.findall(expr))
