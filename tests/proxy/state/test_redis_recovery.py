"""Redis restarts: the store recovers at once (no failed operation, never marked down), a
real outage is still reported at once, and with AOF the state survives the restart."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar, cast

import pytest

from proxy.config.state_settings import AbuseConfig
from proxy.observability.metrics import Metrics
from proxy.state.base import StoreError
from proxy.state.factory import StateLayer, start_state
from proxy.state.gate import escalation
from proxy.state.health import StoreHealth
from proxy.state.keys import Keys
from proxy.state.memory import MemoryStore
from proxy.state.ports import ADMIT, Principal
from proxy.state.redis_store import RedisStore
from tests.proxy.state.conftest import Clock
from tests.proxy.state.helpers import eventually, sample, settings
from tests.support.redis_server import RedisServer

ALICE = "a1" * 32
POOLED = 20
T = TypeVar("T")


async def fill_pool(store: RedisStore) -> None:
    """Leaves POOLED connected sockets idle in the store's pool (as a busy proxy has)."""
    pool = store._redis.connection_pool
    connections = [await pool.get_connection() for _ in range(POOLED)]
    for connection in connections:
        await pool.release(connection)


def store_clients(server: RedisServer) -> int:
    """Client connections the server holds, less the one asking."""
    return len(server.client().client_list()) - 1


async def staggered(count: int, operation: Callable[[], Awaitable[T]]) -> list[T]:
    """``count`` concurrent operations spread over 20 loop turns, so that several
    auto-pipeline batches are in flight at once, each on its own pooled socket."""
    async def after(turns: int) -> T:
        for _ in range(turns):
            await asyncio.sleep(0)
        return await operation()

    return await asyncio.gather(*(after(index % 20) for index in range(count)))


def redis_store(layer: StateLayer) -> RedisStore:
    return cast(RedisStore, layer.store)


class ContainerLink:
    """A TCP relay in front of redis-server that plays a restart the way a container
    restart looks to its clients: their sockets get no FIN, so none looks dead in the pool;
    each finds out only when it next sends, and is answered with a reset (the new kernel
    knows no such connection). A killed process, by contrast, closes every socket at once."""

    def __init__(self, server: RedisServer) -> None:
        self.target, self.era = server.port, 0
        self.writers: list[asyncio.StreamWriter] = []
        self.port = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def __aenter__(self) -> ContainerLink:
        self.server = await asyncio.start_server(self.relay, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        self.server.close()
        for writer in self.writers:
            writer.transport.abort()

    def restart(self) -> None:
        """The server side of every relayed connection goes; the client side stays open."""
        self.era += 1

    async def relay(self, client: asyncio.StreamReader, to_client: asyncio.StreamWriter):
        server, to_server = await asyncio.open_connection("127.0.0.1", self.target)
        self.writers += [to_client, to_server]
        era = self.era
        back = asyncio.create_task(self.pump(server, to_client, lambda: era == self.era),
                                   name="relay-to-client")
        while data := await client.read(65536):
            if era != self.era:
                to_client.get_extra_info("socket").setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                to_client.transport.abort()  # linger 0: a reset, as from a new kernel
                break
            to_server.write(data)
        to_server.transport.abort()
        back.cancel()

    @staticmethod
    async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter,
                   current: Callable[[], bool]) -> None:
        while (data := await source.read(65536)) and current():
            sink.write(data)


async def test_the_first_operations_after_a_restart_succeed(redis_server: RedisServer) -> None:
    store = RedisStore(redis_server.url, Keys("t"), timeout_s=2)
    try:
        await fill_pool(store)
        await staggered(POOLED, lambda: store.standing(ALICE, 0))
        assert store_clients(redis_server) >= POOLED
        redis_server.restart()  # every pooled socket is dead; the client has not noticed
        for _ in range(3):
            await store.standing(ALICE, 0)  # no StoreError
        await staggered(POOLED, lambda: store.in_flight(ALICE, 0))
        await store.ping()
        assert store.pipeline.resends >= 1, "the dead sockets were met, and resent past"
    finally:
        await store.close()


async def test_one_dead_socket_retires_the_whole_pool(redis_server: RedisServer) -> None:
    """After a container restart no pooled socket looks dead until used: the first one
    found dead drops the other idle ones, so a resend (and the batches after it) gets a
    fresh connection, not the next dead socket."""
    async with ContainerLink(redis_server) as link:
        store = RedisStore(link.url, Keys("t"), timeout_s=2)
        try:
            await fill_pool(store)
            link.restart()
            await staggered(5 * POOLED, lambda: store.standing(ALICE, 0))  # no StoreError
            resends = store.pipeline.resends
            assert 1 <= resends < POOLED, "only batches already on a dead socket resent"
            await staggered(5 * POOLED, lambda: store.standing(ALICE, 0))
            assert store.pipeline.resends == resends, "no dead socket left in the pool"
        finally:
            await store.close()


@pytest.mark.parametrize("restart", ["process", "container"])
async def test_fail_closed_refuses_nobody_across_a_restart(redis_server: RedisServer,
                                                           restart: str) -> None:
    """The user's case: with on_error fail_closed a restart cost 179 requests a 503."""
    metrics = Metrics()
    async with ContainerLink(redis_server) as link:
        url = redis_server.url if restart == "process" else link.url
        layer = await start_state(settings(url, store={"on_error": "fail_closed"}), metrics)
        try:
            refused = await admissions_across_a_restart(
                layer, redis_server.restart if restart == "process" else link.restart)
        finally:
            await layer.close()
    assert refused == [], "none unavailable"
    assert sample(metrics, "safety_proxy_store_up") == 1 and not layer.degraded
    assert sample(metrics, "safety_proxy_store_errors_total",
                  {"operation": "admission"}) == 0, "never marked down, not even briefly"


async def admissions_across_a_restart(layer: StateLayer,
                                      restart: Callable[[], None]) -> list[str]:
    """The states of the admissions refused among 200 right after ``restart`` (100 at
    once, then 100 one after another), the pool full of sockets from before it."""
    alice = Principal(ALICE, "api_key")
    await fill_pool(redis_store(layer))
    assert set(await staggered(POOLED, lambda: layer.gate.admit(alice))) == {ADMIT}
    restart()
    admissions = await staggered(100, lambda: layer.gate.admit(alice))
    admissions += [await layer.gate.admit(alice) for _ in range(100)]
    return [admission.state for admission in admissions if admission != ADMIT]


async def test_a_real_outage_is_still_reported_at_once(redis_server: RedisServer) -> None:
    """The resend meets the outage too: the operation fails and the store is marked down."""
    metrics = Metrics()
    layer = await start_state(settings(redis_server.url, store={"on_error": "fail_closed"}),
                              metrics)
    alice = Principal(ALICE, "api_key")
    try:
        await fill_pool(redis_store(layer))
        assert await layer.gate.admit(alice) == ADMIT
        redis_server.kill()
        assert (await layer.gate.admit(alice)).state == "unavailable"
        assert layer.degraded and sample(metrics, "safety_proxy_store_up") == 0
        assert redis_store(layer).pipeline.resends == 1, "one resend, then the failure"
        with pytest.raises(StoreError):
            await layer.store.standing(ALICE, 0)
        redis_server.start()
        await eventually(lambda: not layer.degraded)
        assert await layer.gate.admit(alice) == ADMIT
    finally:
        await layer.close()


async def test_a_failure_older_than_the_recovery_does_not_mark_the_store_down() -> None:
    """An operation stuck on a socket of the old server fails after the probe's ping came
    back: it counts as an error, but the newer ping stands."""
    metrics = Metrics()
    health = StoreHealth(MemoryStore(), metrics, reconnect_min_s=0.01)
    waiting, fail_now = asyncio.Event(), asyncio.Event()

    async def stuck_operation() -> None:
        async with health.timed("admission"):
            waiting.set()
            await fail_now.wait()
            raise StoreError("the old server's socket")

    stuck = asyncio.create_task(stuck_operation())
    try:
        await waiting.wait()
        health.failed("admission", StoreError("down"))
        assert not health.up
        await eventually(lambda: health.up)  # the probe's ping succeeded
        fail_now.set()
        with pytest.raises(StoreError):
            await stuck
        assert health.up and sample(metrics, "safety_proxy_store_up") == 1
        assert sample(metrics, "safety_proxy_store_errors_total",
                      {"operation": "admission"}) == 2, "both failures are counted"
        async with health.timed("admission"):  # a new failure still marks it down
            pass
        with pytest.raises(StoreError):
            async with health.timed("admission"):
                raise StoreError("down again")
        assert not health.up
    finally:
        await health.close()


async def test_with_aof_a_ban_survives_a_restart(tmp_path: Path, clock: Clock) -> None:
    """deploy/compose.yaml runs Redis with AOF: bans, strikes and events outlive a restart."""
    server = RedisServer(tmp_path, appendonly=True)
    server.start()
    store = RedisStore(server.url, Keys("t"), timeout_s=2)
    policy = escalation(AbuseConfig(throttle_at=2, ban_at=2, ban_s=600))
    now_ms = clock.ms
    try:
        for request_id in ("one", "two"):
            await store.record(ALICE, 1.0, {"request_id": request_id}, policy, 100, now_ms)
        assert (await store.standing(ALICE, now_ms)).banned_until_ms == now_ms + 600_000
        server.restart(clean=True)  # as `docker compose restart` does: SIGTERM, then start
        standing = await store.standing(ALICE, now_ms)
        assert standing.banned_until_ms == now_ms + 600_000, "still banned"
        assert [ban.principal for ban in await store.bans(now_ms, 10)] == [ALICE]
        assert len(await store.recent_events(10)) == 2, "the review stream is kept"
    finally:
        await store.close()
        server.kill()
