"""Fixtures for the state layer: a real three-node Redis Cluster, stores on every backend,
a settable clock. (``redis_server``, one real redis-server per test, is in
tests/conftest.py.)"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from proxy.state.base import Store
from proxy.state.keys import Keys
from proxy.state.memory import MemoryStore
from proxy.state.redis_store import RedisStore
from tests.support.redis_server import RedisCluster, RedisServer


@pytest.fixture(scope="session")
def shared_redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    """One cluster for the session (it takes seconds to form); tests that stop nodes start
    their own RedisCluster."""
    cluster = RedisCluster(tmp_path_factory.mktemp("redis-cluster"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.kill()


@pytest.fixture
def redis_cluster(shared_redis_cluster: RedisCluster) -> RedisCluster:
    """The session's cluster, every node emptied (and checked healthy) first."""
    shared_redis_cluster.wait_ok()
    shared_redis_cluster.flush()
    return shared_redis_cluster


class Clock:
    """A settable clock (seconds); starts at real time so Redis TTLs stay sensible."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    @property
    def ms(self) -> int:
        return int(self.now * 1000)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["memory", "redis", "cluster"])
def store_section(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """The config's store section for each backend: the memory store, a real Redis, a real
    three-node Redis Cluster."""
    if request.param == "memory":
        yield {"url": "memory"}
    elif request.param == "cluster":
        yield {"url": request.getfixturevalue("redis_cluster").url, "cluster": True}
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        yield {"url": server.url}


@pytest.fixture
async def store(store_section: dict[str, Any]) -> AsyncIterator[Store]:
    """Each contract test runs on the memory store, on a real Redis and on a real Redis
    Cluster."""
    if store_section["url"] == "memory":
        yield MemoryStore()
        return
    # A generous timeout: the contract is about results, not speed, and a shared machine
    # running three cluster nodes beside the suite can stall a reply for seconds.
    redis_store = RedisStore(store_section["url"], Keys("test"),
                             cluster=store_section.get("cluster", False), timeout_s=10)
    try:
        yield redis_store
    finally:
        await redis_store.close()
