"""bench/overhead.py's target report: each overhead target read from one run's figures."""

from __future__ import annotations

from typing import Any

import pytest

from bench.overhead import TARGETS_OF_A_RUN, targets


def a_run(checks_off_c16: float = 2_000.0, low_latency_first_byte: float = 0.9) -> dict[str, Any]:
    """The figures targets() reads, as run_matrix reports them (chat route)."""
    def figures(requests_per_s: float, cpu_ms: float = 1.0) -> dict[str, float]:
        return {"requests_per_s": requests_per_s, "cpu_ms_per_request": cpu_ms}

    runs = {
        "chat/non_streamed/direct/c16": figures(10_000.0),
        "chat/non_streamed/proxy_checks_off/c16": figures(checks_off_c16),
        "chat/non_streamed/proxy_checks_off/c1": figures(1_000.0, cpu_ms=0.8),
        "chat/non_streamed/proxy_fast_preset/c1": figures(600.0, cpu_ms=1.5),
        "chat/streamed/proxy_fast_low_latency/c16": figures(700.0),
        "chat/streamed/proxy_fast_preset/c16": figures(650.0),
    }
    added = {"chat/non_streamed/proxy_checks_off": 0.75, "chat/non_streamed/proxy_fast_preset": 1.4}
    first_byte = {"proxy_fast_low_latency": {"first_byte_added_ms": low_latency_first_byte}}
    return {"runs": runs, "added": added, "first_byte": first_byte}


def test_every_target_is_reported_with_its_value_and_verdict() -> None:
    report = targets(**a_run())
    assert set(report) == set(TARGETS_OF_A_RUN)
    assert report["checks_off_share_of_direct_req_s_c16"] == {
        "value": 0.2, "target": ">= 0.25", "met": False}
    assert report["fast_cpu_per_request_to_checks_off_c1"]["value"] == pytest.approx(1.875)
    assert report["fast_cpu_per_request_to_checks_off_c1"]["met"] is True
    assert report["checks_off_added_p50_ms_c1"]["met"] is False  # 0.75 > 0.5
    assert report["low_latency_streams_to_buffered_c16"]["met"] is True  # 700 >= 650


@pytest.mark.parametrize(("checks_off_c16", "met"), [(2_499.0, False), (2_500.0, True)])
def test_a_share_target_is_met_from_its_bound_on(checks_off_c16: float, met: bool) -> None:
    report = targets(**a_run(checks_off_c16=checks_off_c16))
    assert report["checks_off_share_of_direct_req_s_c16"]["met"] is met


@pytest.mark.parametrize(("added_ms", "met"), [(1.0, True), (1.001, False)])
def test_a_time_target_is_met_up_to_its_bound(added_ms: float, met: bool) -> None:
    report = targets(**a_run(low_latency_first_byte=added_ms))
    assert report["low_latency_first_byte_added_ms"]["met"] is met
