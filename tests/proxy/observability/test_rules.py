"""The shipped Prometheus config and rules: valid for promtool, unit-tested, complete."""

from __future__ import annotations

import subprocess

from tests.proxy.observability.support import (
    DEPLOY,
    RULE_FILES,
    RULE_TESTS_DIR,
    exported_metric_names,
    load_yaml,
    referenced_metric_names,
    rules,
    tool,
)

RULE_TEST_FILES = sorted(RULE_TESTS_DIR.glob("*.yml"))


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("promtool"), *args], capture_output=True, text=True, timeout=60)


def test_rule_files_pass_promtool_check() -> None:
    result = run_promtool("check", "rules", *map(str, RULE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_config_and_its_rule_files_pass_promtool_check() -> None:
    result = run_promtool("check", "config", str(DEPLOY / "prometheus" / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") >= 3  # the config and both rule files


def test_rule_unit_tests_pass() -> None:
    assert len(RULE_TEST_FILES) >= 2
    result = run_promtool("test", "rules", *map(str, RULE_TEST_FILES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_severity_summary_and_runbook() -> None:
    alerts = rules("alert")
    assert len(alerts) >= 10
    for alert in alerts:
        assert alert["labels"]["severity"] in ("warning", "critical"), alert["alert"]
        annotations = alert["annotations"]
        assert annotations["summary"] and annotations["description"], alert["alert"]
        assert len(annotations["runbook"]) > 80, f"{alert['alert']}: runbook too thin"


def test_every_alert_is_unit_tested_firing_and_not_firing() -> None:
    fired: set[str] = set()
    silent: set[str] = set()
    for path in RULE_TEST_FILES:
        for case in load_yaml(path)["tests"]:
            for check in case.get("alert_rule_test", []):
                (fired if check.get("exp_alerts") else silent).add(check["alertname"])
    names = {alert["alert"] for alert in rules("alert")}
    assert names - fired == set(), "alerts never tested firing"
    assert names - silent == set(), "alerts never tested staying silent"


def test_every_recording_rule_is_unit_tested() -> None:
    tested = " ".join(check["expr"] for path in RULE_TEST_FILES
                      for case in load_yaml(path)["tests"]
                      for check in case.get("promql_expr_test", []))
    untested = {rule["record"] for rule in rules("record")} - referenced_metric_names(tested)
    assert untested == set()


def test_rules_read_only_metrics_the_proxy_exports_or_rules_record() -> None:
    known = exported_metric_names() | {rule["record"] for rule in rules("record")}
    for rule in rules("record") + rules("alert"):
        unknown = referenced_metric_names(rule["expr"]) - known
        assert unknown == set(), f"{rule.get('record') or rule.get('alert')}: {unknown}"


def test_recording_rules_keep_job_and_name_their_aggregation_level() -> None:
    for rule in rules("record"):
        level = rule["record"].split(":")[0]
        assert level.startswith("job"), rule["record"]
        assert "sum by (job" in rule["expr"], rule["record"]
