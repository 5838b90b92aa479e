"""Fixtures: real aiohttp servers on 127.0.0.1 (proxy and fake upstream), a real
redis-server, config files. The helpers behind them live in tests/support."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from openai import AsyncOpenAI

import tests.support.scripted  # noqa: F401  (registers type: scripted)
from classifiers import heap
from proxy.app import create_app
from proxy.config.loader import parse
from tests.support.redis_server import RedisServer
from tests.support.serving import start_app
from tests.support.upstream import FakeUpstream

ServeApp = Callable[[web.Application], Awaitable[str]]


@pytest.fixture(autouse=True)
def _short_gc_pauses() -> Iterator[None]:
    """After each test (its fixtures torn down first: this one is set up first), collects
    the cyclic garbage made since the last test, then freezes what is left (gc.freeze: the
    collector skips it from then on). Without it, the suite's one process held 2.7 million
    tracked objects by its end, and each full collection, triggered at whatever moment, paused
    every thread for 1.0-2.7 s (measured): long enough to time out a Redis round trip in a
    recovery test (2 s) and fail it. A proxy's own process holds about 90,000 (a full
    collection ~30 ms) and settles its heap the same way once started (classifiers/heap.py),
    so nothing of the product is hidden by this."""
    yield
    heap.settle()


@pytest.fixture
async def serve_app() -> AsyncIterator[ServeApp]:
    """Starts apps on free loopback ports (tests/support/serving.py); returns their base
    URL; stops them, last started first, after the test."""
    runners: list[web.AppRunner] = []

    async def start(app: web.Application) -> str:
        runner, base_url = await start_app(app)
        runners.append(runner)
        return base_url

    yield start
    for runner in reversed(runners):
        await runner.cleanup()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A real redis-server on a free loopback port, for this test alone; killed after."""
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def fake_upstream() -> FakeUpstream:
    return FakeUpstream()


def proxy_config(upstream_url: str, **sections: Any) -> dict[str, Any]:
    """A config dict: one scripted check on both directions (labels bad and meh:
    BADWORD scores bad=1.0, MEHWORD scores meh=0.6) with flag 0.5 / block 0.9."""
    check = {"name": "script", "type": "scripted", "timeout_s": 1.0, "options": {
        "labels": ["bad", "meh"],
        "triggers": {"BADWORD": {"bad": 1.0}, "MEHWORD": {"meh": 0.6}}}}
    thresholds = {"script": {"bad": {"flag": 0.5, "block": 0.9},
                             "meh": {"flag": 0.5, "block": 0.9}}}
    config: dict[str, Any] = {
        "upstream": {"base_url": f"{upstream_url}/v1", "read_timeout_s": 5},
        "checks": [check],
        "policy": {"input": thresholds, "output": thresholds,
                   "toxic_labels": ["script.bad"], "refusal_label": None},
        "streaming": {"mode": "buffered", "window_chars": 40, "context_chars": 16},
        "reload": {"watch": False},
        # Tests never reach outside this machine: images by URL are fetched only where a
        # test serves them and says so (tests/proxy/pipeline/test_fetch.py).
        "server": {"fetch": {"enabled": False}},
    }
    for section, values in sections.items():
        if isinstance(values, dict) and isinstance(config.get(section), dict):
            config[section] = {**config[section], **values}
        else:
            config[section] = values
    return config


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture
async def start_proxy(serve_app: ServeApp, fake_upstream: FakeUpstream, tmp_path: Path):
    """start_proxy(**sections) -> (proxy base URL, app): the fake upstream and a proxy whose
    config file is ``tmp_path / "proxy.yaml"`` (edit it to exercise hot reload)."""
    async def start(**sections: Any) -> tuple[str, web.Application]:
        upstream_url = await serve_app(fake_upstream.app())
        path = write_config(tmp_path / "proxy.yaml", proxy_config(upstream_url, **sections))
        loaded = parse(path.read_bytes(), str(path))
        app = create_app(loaded, config_path=path)
        return await serve_app(app), app
    return start


@pytest.fixture
async def openai_client() -> AsyncIterator[Callable[[str], AsyncOpenAI]]:
    """openai_client(base_url): an official SDK client of the proxy at ``base_url``; every
    client made is closed (its pooled sockets with it) after the test."""
    clients: list[AsyncOpenAI] = []

    def make(base_url: str) -> AsyncOpenAI:
        clients.append(AsyncOpenAI(base_url=f"{base_url}/v1", api_key="sk-test-client-key",
                                   max_retries=0, timeout=10))
        return clients[-1]

    yield make
    for client in clients:
        await client.close()


# Under CI (CI set) nothing may be skipped: every optional part (torch, Detoxify, ONNX, the
# semantic model, promtool, Prometheus, redis-server, the shared data) is installed there,
# so a skip would only hide a broken install.
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if os.environ.get("CI") and skipped and exitstatus == 0:
        print(f"\nCI: {len(skipped)} skipped; nothing may be skipped under CI:")
        for report in skipped[:20]:
            print(f"  {report.nodeid}: {report.longrepr}")
        session.exitstatus = 1
