"""A real Prometheus (the Debian package's binary) for tests: a free port, a temporary
config that scrapes one target every second with the shipped rule files, and a small
client for its HTTP API."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from tests.proxy.observability.support import RULE_FILES, tool
from tests.support.ports import free_port

JOB = "safety-proxy"  # the job name the shipped alert rules expect


def write_config(directory: Path, target: str) -> Path:
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s",
                   "evaluation_interval": "1s"},
        "rule_files": [str(path) for path in RULE_FILES],
        "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": [target]}]}],
    }
    path = directory / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


class PrometheusAPI:
    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session, self.url = session, url

    async def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        params = {"query": expr, **({"time": f"{at:.3f}"} if at is not None else {})}
        async with self.session.get(f"{self.url}/api/v1/query", params=params) as response:
            body = await response.json()
        assert body["status"] == "success", f"{expr}: {body}"
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    async def value(self, expr: str, at: float | None = None) -> float | None:
        """The single sample's value, or None while the query has no result."""
        result = await self.query(expr, at)
        assert len(result) <= 1, f"{expr}: {result}"
        return float(result[0]["value"][1]) if result else None

    async def rules(self) -> list[dict[str, Any]]:
        async with self.session.get(f"{self.url}/api/v1/rules") as response:
            body = await response.json()
        return [rule for group in body["data"]["groups"] for rule in group["rules"]]


async def eventually(probe: Callable[[], Awaitable[Any]], accept: Callable[[Any], bool],
                     what: str, timeout_s: float = 20.0) -> Any:
    """Polls ``probe`` until ``accept`` holds; fails with the last value seen."""
    deadline = time.monotonic() + timeout_s
    seen = None
    while time.monotonic() < deadline:
        seen = await probe()
        if accept(seen):
            return seen
        await asyncio.sleep(0.25)
    raise AssertionError(f"{what}: still {seen!r} after {timeout_s}s")


@asynccontextmanager
async def running_prometheus(directory: Path, target: str) -> AsyncIterator[PrometheusAPI]:
    """Starts Prometheus scraping ``target`` (host:port); stops it on exit."""
    port = free_port()
    log = (directory / "prometheus.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        tool("prometheus"), f"--config.file={write_config(directory, target)}",
        f"--storage.tsdb.path={directory / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn", stdout=log, stderr=subprocess.STDOUT)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            api = PrometheusAPI(session, f"http://127.0.0.1:{port}")
            await eventually(lambda: _ready(session, api.url, process), bool,
                             f"Prometheus ready (log: {directory / 'prometheus.log'})")
            yield api
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), timeout=10)
        except TimeoutError:
            process.kill()
            await process.wait()
        log.close()


async def _ready(session: aiohttp.ClientSession, url: str,
                 process: asyncio.subprocess.Process) -> bool:
    assert process.returncode is None, "Prometheus exited at start"
    try:
        async with session.get(f"{url}/-/ready") as response:
            return response.status == 200
    except aiohttp.ClientError:
        return False
