"""bench/overhead.py's target report: each overhead target read from one run's figures."""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any

import pytest

from bench import overhead
from bench.overhead import TARGETS_OF_A_RUN, targets


def a_run(checks_off_c16: float = 2_000.0, low_latency_first_byte: float = 0.9,
          low_latency_c16: tuple[float, ...] = (700.0,),
          buffered_c16: tuple[float, ...] = (650.0,)) -> dict[str, Any]:
    """The figures targets() reads, as run_matrix reports them (chat route): each run's
    medians and its rounds' figures (one round unless given)."""
    def figures(*requests_per_s: float, cpu_ms: float = 1.0) -> dict[str, Any]:
        rounds = [{"requests_per_s": r, "cpu_ms_per_request": cpu_ms} for r in requests_per_s]
        return {"requests_per_s": statistics.median(requests_per_s),
                "cpu_ms_per_request": cpu_ms, "by_round": rounds}

    runs = {
        "chat/non_streamed/direct/c16": figures(10_000.0),
        "chat/non_streamed/proxy_checks_off/c16": figures(checks_off_c16),
        "chat/non_streamed/proxy_checks_off/c1": figures(1_000.0, cpu_ms=0.8),
        "chat/non_streamed/proxy_fast_preset/c1": figures(600.0, cpu_ms=1.5),
        "chat/streamed/proxy_fast_low_latency/c16": figures(*low_latency_c16),
        "chat/streamed/proxy_fast_preset/c16": figures(*buffered_c16),
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


def test_a_ratio_is_the_median_of_its_rounds_ratios() -> None:
    """Each round's two figures are read together: here the ratio of the medians (200 / 150)
    would say 1.33; the rounds' ratios are 1.0, 0.67 and 2.0."""
    report = targets(**a_run(low_latency_c16=(100.0, 200.0, 300.0),
                             buffered_c16=(100.0, 300.0, 150.0)))
    assert report["low_latency_streams_to_buffered_c16"]["value"] == 1.0
    assert report["low_latency_streams_to_buffered_c16"]["met"] is True
    report = targets(**a_run(low_latency_c16=(100.0, 200.0, 290.0),
                             buffered_c16=(110.0, 300.0, 150.0)))
    assert report["low_latency_streams_to_buffered_c16"]["met"] is False  # 0.91, 0.67, 1.93


def test_every_other_round_runs_in_the_reverse_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """A drift of the machine's speed over a round hits the first and last targets alike."""
    order: list[tuple[str, Path, int]] = []

    def measured(pid: int, url: str, script: Path, connections: int, seconds: int
                 ) -> dict[str, int]:
        order.append((url, script, connections))
        return {"pid": pid, "script": str(script)}

    monkeypatch.setattr(overhead, "measured", measured)
    args = argparse.Namespace(routes=["chat"], concurrency=[1, 16], duration=1)
    ports = {"direct": 1, "proxy_checks_off": 2}
    pids = {"direct": 10, "proxy_checks_off": 20}
    scripts = {("chat", mode): Path(mode) for mode in overhead.MODES}
    first = overhead.run_round(args, scripts, ports, pids, reverse=False)
    forward, order[:] = list(order), []
    second = overhead.run_round(args, scripts, ports, pids, reverse=True)
    assert order == forward[::-1] and len(forward) == 8 == len(set(forward))
    assert first == second  # the same runs, each under its own key
    assert first["chat/streamed/proxy_checks_off/c16"] == {"pid": 20, "script": "streamed"}
