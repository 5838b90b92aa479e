"""Metric children kept by label values (observability/metrics.py ``_KeptChildren``): the
same series as prometheus_client's own ``labels()``, and forgotten with it."""

from __future__ import annotations

from prometheus_client import generate_latest

from proxy.observability.metrics import Metrics


def test_a_kept_child_is_the_series_prometheus_client_exports() -> None:
    metrics = Metrics()
    child = metrics.requests.labels("chat_completions", "flag")
    assert metrics.requests.labels("chat_completions", "flag") is child
    assert metrics.requests.labels(route="chat_completions", decision="flag") is child
    child.inc(2)
    metrics.request_duration.labels("responses").observe(0.003)
    text = generate_latest(metrics.registry).decode()
    assert 'safety_proxy_requests_total{decision="flag",route="chat_completions"} 2.0' in text
    assert 'safety_proxy_request_duration_seconds_count{route="responses"} 1.0' in text


def test_removed_and_cleared_children_are_forgotten() -> None:
    metrics = Metrics()
    metrics.set_config_hash("a" * 64)
    old = metrics.config_info.labels("a" * 12)
    metrics.set_config_hash("b" * 64)  # clears the gauge, then sets the new hash
    text = generate_latest(metrics.registry).decode()
    assert f'sha256="{"b" * 12}"' in text and "a" * 12 not in text
    assert metrics.config_info.labels("a" * 12) is not old
    kept = metrics.errors.labels("internal")
    metrics.errors.remove("internal")
    assert metrics.errors.labels("internal") is not kept
