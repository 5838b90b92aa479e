"""The Grafana dashboards and provisioning: valid dashboard JSON, every panel with a
datasource and a query, queries that parse and read real metrics, a working what-if."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from proxy.observability.metrics import SCORE_BUCKETS
from tests.proxy.observability.support import (
    DASHBOARD_FILES,
    DATASOURCE_UID,
    REPO,
    annotation_queries,
    dashboards,
    exported_metric_names,
    load_yaml,
    metric_families,
    panel_queries,
    query_panels,
    referenced_metric_names,
    rules,
    tool,
)


def test_dashboards_are_dashboard_json_with_identity() -> None:
    uids = set()
    for path in DASHBOARD_FILES:
        board = json.loads(path.read_text())
        assert isinstance(board["uid"], str) and 0 < len(board["uid"]) <= 40, path
        assert board["title"].strip(), path
        assert isinstance(board["schemaVersion"], int) and board["schemaVersion"] >= 36, path
        assert board.get("id") is None, f"{path}: a fixed id breaks provisioning"
        uids.add(board["uid"])
    assert len(uids) == len(DASHBOARD_FILES)


def test_every_panel_has_a_datasource_a_query_and_a_place() -> None:
    for board in dashboards():
        panels = list(query_panels(board))
        assert len(panels) >= 6, board["uid"]
        assert len({panel["id"] for panel in panels}) == len(panels), board["uid"]
        for panel in panels:
            where = f"{board['uid']} / {panel.get('title')}"
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, where
            assert panel["targets"], where
            for target in panel["targets"]:
                assert target["expr"].strip() and target["refId"], where
                assert target.get("datasource", panel["datasource"]) == panel["datasource"]
            assert {"h", "w", "x", "y"} <= panel["gridPos"].keys(), where
            assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, where


def test_annotations_mark_reloads_and_alerts_from_prometheus() -> None:
    for board in dashboards():
        names = []
        for annotation in board["annotations"]["list"]:
            if not annotation.get("builtIn"):
                assert annotation["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
                assert annotation["expr"].strip() and annotation["enable"]
                names.append(annotation["name"])
        assert names == ["Config reloads", "Alerts"], board["uid"]


def test_the_datasource_variable_defaults_to_the_provisioned_prometheus() -> None:
    provisioned = load_yaml(REPO / "grafana/provisioning/datasources/prometheus.yml")
    (source,) = provisioned["datasources"]
    assert source["uid"] == DATASOURCE_UID and source["type"] == "prometheus"
    for board in dashboards():
        variable = board["templating"]["list"][0]
        assert (variable["type"], variable["name"], variable["query"]) == (
            "datasource", "datasource", "prometheus")
        assert variable["current"]["value"] == DATASOURCE_UID


def test_queries_parse_as_promql(tmp_path: Path) -> None:
    # promtool parses every expression of a rule file: dashboards' queries as rules.
    queries = [expr for _, expr in [*panel_queries(), *annotation_queries()]]
    group = {"name": "dashboard_queries",
             "rules": [{"record": f"dashboard:query_{n}:check", "expr": expr}
                       for n, expr in enumerate(queries)]}
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [group]}))
    result = subprocess.run([tool("promtool"), "check", "rules", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(queries)} rules found" in result.stdout


def test_queries_read_only_metrics_the_proxy_exports_or_rules_record() -> None:
    known = exported_metric_names() | {rule["record"] for rule in rules("record")}
    for where, expr in [*panel_queries(), *annotation_queries()]:
        if expr.startswith("ALERTS{"):  # Prometheus's own series of the shipped alerts
            continue
        assert referenced_metric_names(expr), where
        assert referenced_metric_names(expr) - known == set(), where


def test_every_metric_the_proxy_declares_is_on_a_dashboard() -> None:
    # A new metric in proxy/observability/metrics.py needs a panel (or a reason here).
    shown = " ".join(expr for _, expr in panel_queries())
    assert {family for family in metric_families() if family not in shown} == set()


def test_threshold_what_if_offers_exactly_the_score_bucket_boundaries() -> None:
    board = next(b for b in dashboards() if b["uid"] == "safety-proxy-classifiers")
    variable = next(v for v in board["templating"]["list"] if v["name"] == "threshold")
    offered = variable["query"].split(",")
    assert offered[0] == "0.05" and offered[-1] == "0.95" and len(offered) == 19
    assert {float(value) for value in offered} <= set(SCORE_BUCKETS)
    assert variable["current"]["value"] in offered
    what_if = [target["expr"] for panel in query_panels(board) for target in panel["targets"]
               if 'le="$threshold"' in target["expr"]]
    assert len(what_if) >= 2 and all("safety_proxy_classifier_score_count" in e for e in what_if)


def test_provisioning_loads_the_dashboards_folder_that_compose_mounts() -> None:
    provider = load_yaml(REPO / "grafana/provisioning/dashboards/dashboards.yml")["providers"][0]
    compose = load_yaml(REPO / "deploy/compose.yaml")
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"../grafana/dashboards:{provider['options']['path']}:ro" in mounts
