"""`promtool check metrics` accepts a real proxy's /metrics, before and after traffic."""

from __future__ import annotations

import subprocess

import aiohttp

from tests.proxy.observability.conftest import Stack
from tests.proxy.observability.support import exported_metric_names, tool


def promtool_check_metrics(text: bytes) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("promtool"), "check", "metrics"], input=text.decode(),
                          capture_output=True, text=True, timeout=60)


async def scrape(session: aiohttp.ClientSession, stack: Stack) -> tuple[str, bytes]:
    async with session.get(f"{stack.proxy_url}/metrics") as response:
        assert response.status == 200
        return response.headers["Content-Type"], await response.read()


async def test_metrics_endpoint_passes_promtool_check_metrics(stack: Stack) -> None:
    async with aiohttp.ClientSession() as session:
        content_type, before = await scrape(session, stack)
        for content in ("hello", "Muslims are savages who deserve to be locked up.",
                        "[[refuse]]"):
            body = {"model": "m", "messages": [{"role": "user", "content": content}]}
            async with session.post(f"{stack.proxy_url}/v1/chat/completions", json=body) as r:
                await r.read()
        _, after = await scrape(session, stack)
    assert content_type.startswith("text/plain;")  # the text exposition format
    for text in (before, after):
        result = promtool_check_metrics(text)
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.strip() == "", f"lint findings: {result.stdout}"
    assert b'safety_proxy_moderations_total{decision="block",direction="input"} 1.0' in after
    names = {line.split("{")[0].split(" ")[0] for line in after.decode().splitlines()
             if line and not line.startswith("#")}
    assert exported_metric_names() <= names


async def test_promtool_check_metrics_rejects_a_broken_exposition() -> None:
    # The check must be able to fail: a counter without _total and a bad line.
    broken = b"# TYPE requests counter\nrequests 1\nnot a metric line\n"
    assert promtool_check_metrics(broken).returncode != 0
