"""A running proxy's /metrics carries the process and Python collectors, and no _created
series (they doubled counters and histograms for a timestamp nothing reads)."""

from __future__ import annotations

import sys

import aiohttp

from tests.proxy.observability.support import DASHBOARD_FILES, RULE_FILES


async def exposition(base: str) -> list[str]:
    async with aiohttp.ClientSession() as session:
        body = {"model": "m", "messages": [{"role": "user", "content": "hello"}]}
        async with session.post(f"{base}/v1/chat/completions", json=body) as response:
            assert response.status == 200  # counters and histograms have moved
        async with session.get(f"{base}/metrics") as response:
            return (await response.text()).splitlines()


def sample_names(lines: list[str]) -> set[str]:
    return {line.split("{")[0].split(" ")[0] for line in lines if line and line[0] != "#"}


async def test_process_and_python_collectors_are_exported(start_proxy) -> None:
    base, _ = await start_proxy()
    names = sample_names(await exposition(base))
    expected = {"process_cpu_seconds_total", "python_info", "python_gc_objects_collected_total",
                "python_gc_collections_total"}
    if sys.platform == "linux":  # read from /proc
        expected |= {"process_resident_memory_bytes", "process_open_fds",
                     "process_start_time_seconds"}
    assert expected <= names


async def test_no_created_series_are_exported(start_proxy) -> None:
    base, _ = await start_proxy()
    lines = await exposition(base)
    assert any(line.startswith("safety_proxy_requests_total{") for line in lines)
    assert [line for line in lines if "_created" in line] == []


def test_shipped_rules_and_dashboards_read_no_created_series() -> None:
    for path in (*RULE_FILES, *DASHBOARD_FILES):
        assert "_created" not in path.read_text(), path
