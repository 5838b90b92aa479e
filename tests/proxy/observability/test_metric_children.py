"""Metric children kept by label values (observability/metrics.py ``_KeptChildren``): the
same series as prometheus_client's own ``labels()``, and forgotten with it."""

from __future__ import annotations

import math
from typing import Any

import prometheus_client
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from proxy.observability.metrics import LATENCY_BUCKETS, Histogram, Metrics


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


def test_a_histogram_counts_each_observation_in_prometheus_client_s_bucket() -> None:
    """Bisection finds the bucket prometheus_client's scan finds: bounds themselves, values
    between, below the first and past the last, infinities, NaN (in no bucket); an
    exemplar still goes with its bucket."""
    ours = Histogram("h_seconds", "h", ["route"], registry=CollectorRegistry(),
                     buckets=LATENCY_BUCKETS)
    theirs = prometheus_client.Histogram("h_seconds", "h", ["route"],
                                         registry=CollectorRegistry(), buckets=LATENCY_BUCKETS)
    amounts = [-1.0, 0.0, math.inf, -math.inf, math.nan, 1e-9, 1e9]
    for bound in LATENCY_BUCKETS:
        amounts += [bound, math.nextafter(bound, 0.0), math.nextafter(bound, math.inf)]
    for amount in amounts:
        ours.labels("chat").observe(amount)
        theirs.labels("chat").observe(amount)
    ours.labels("chat").observe(0.2, {"trace_id": "abc"})
    theirs.labels("chat").observe(0.2, {"trace_id": "abc"})
    assert _samples(ours) == _samples(theirs)
    assert ours.labels("chat")._buckets[8].get_exemplar() is not None  # 0.25's bucket


def _samples(histogram: prometheus_client.Histogram) -> list[tuple[str, Any, str]]:
    """Its samples but the creation time, values as text (a sum of infinities is NaN)."""
    return [(s.name, s.labels, repr(s.value)) for metric in histogram.collect()
            for s in metric.samples if not s.name.endswith("_created")]


def test_a_labelled_histogram_observed_without_its_labels_is_refused() -> None:
    with pytest.raises(ValueError, match="missing label values"):
        Metrics().request_duration.observe(0.1)
