"""Redis down at start and mid-run: fail_open serves on and counts, fail_closed refuses,
the store reconnects with backoff, and records kept meanwhile are written afterwards."""

from __future__ import annotations

import itertools
import time

import pytest

from proxy.observability.metrics import Metrics
from proxy.state.factory import start_state
from proxy.state.ports import ADMIT, Principal
from tests.proxy.state.helpers import eventually, outcome, sample, settings
from tests.support.redis_server import RedisServer

ALICE = "a1" * 32
BAN_AT_TWO = {"throttle_at": 2, "ban_at": 2, "ban_s": 600, "weights": {"flag": 1, "block": 1}}


def errors(metrics: Metrics, operation: str) -> float:
    return sample(metrics, "safety_proxy_store_errors_total", {"operation": operation})


async def test_fail_open_serves_through_an_outage_and_catches_up(redis_server: RedisServer):
    metrics = Metrics()
    layer = await start_state(settings(redis_server.url, abuse=BAN_AT_TWO), metrics)
    alice = Principal(ALICE, "api_key")
    try:
        await layer.gate.record(outcome(ALICE, "flag", request_id="before"))
        redis_server.kill()
        assert await layer.gate.admit(alice) == ADMIT, "the failure itself is admitted"
        assert layer.degraded and sample(metrics, "safety_proxy_store_up") == 0
        for _ in range(5):
            assert await layer.gate.admit(alice) == ADMIT
        await layer.gate.record(outcome(ALICE, "flag", request_id="during"))
        assert layer.gate.pending == 1
        assert errors(metrics, "admission") == 6 and errors(metrics, "record") == 1
        redis_server.start()  # same port, empty: nothing of before survived
        await eventually(lambda: not layer.degraded)
        assert sample(metrics, "safety_proxy_store_up") == 1
        await eventually(lambda: layer.gate.pending == 0)
        # pending counts the records waiting; the last one leaves the queue when its write
        # is sent, and the write may land after a read sent on another pooled connection
        await eventually(lambda: layer.store.recent_events(10))
        [event] = await layer.store.recent_events(10)
        assert event.fields["request_id"] == "during", "the kept record was written"
        await layer.gate.record(outcome(ALICE, "flag", request_id="after"))
        assert (await layer.gate.admit(alice)).state == "banned", "checks resumed"
    finally:
        await layer.close()


async def test_fail_closed_refuses_while_down(redis_server: RedisServer) -> None:
    metrics = Metrics()
    layer = await start_state(settings(redis_server.url, store={"on_error": "fail_closed"}),
                              metrics)
    try:
        assert await layer.gate.admit(Principal(ALICE, "api_key")) == ADMIT
        redis_server.kill()
        refused = await layer.gate.admit(Principal(ALICE, "api_key"))
        assert (refused.state, refused.retry_after_s) == ("unavailable", 1)
        assert await layer.gate.admit(Principal(None)) == ADMIT, "anonymous is never checked"
        redis_server.start()
        await eventually(lambda: not layer.degraded)
        assert await layer.gate.admit(Principal(ALICE, "api_key")) == ADMIT
    finally:
        await layer.close()


async def test_down_at_start_then_up(tmp_path) -> None:
    server = RedisServer(tmp_path)  # not started yet
    metrics = Metrics()
    layer = await start_state(settings(server.url), metrics)
    try:
        assert layer.degraded, "a store down at start degrades, it does not stop the proxy"
        assert await layer.gate.admit(Principal(ALICE, "api_key")) == ADMIT
        assert await layer.cache.get_many("c", "v1", ["hello"]) == [None]
        assert errors(metrics, "cache_get") == 1
        server.start()
        await eventually(lambda: not layer.degraded)
    finally:
        await layer.close()
        server.kill()


async def test_reconnection_backs_off_between_probes(redis_server: RedisServer) -> None:
    """reconnect_min_s 0.05 doubling to 0.2: in 1.2 s down, about 7 probes, not dozens."""
    layer = await start_state(settings(redis_server.url), Metrics())
    probes: list[float] = []
    real_ping = layer.store.ping

    async def counted_ping() -> None:
        probes.append(time.monotonic())
        await real_ping()

    layer.store.ping = counted_ping  # type: ignore[method-assign]
    try:
        redis_server.kill()
        await layer.gate.admit(Principal(ALICE, "api_key"))
        time_down = time.monotonic()
        await eventually(lambda: time.monotonic() - time_down > 1.2)
        gaps = [b - a for a, b in itertools.pairwise(probes)]
        # without backoff, 0.05 s probes would number ~24; sleeps only ever overshoot, so
        # the lower bounds hold on a loaded machine too
        assert 3 <= len(probes) <= 12, gaps
        assert gaps[0] >= 0.09 and gaps[-1] >= 0.19, gaps
        redis_server.start()
        await eventually(lambda: not layer.degraded, timeout=2)
    finally:
        await layer.close()


async def test_cache_and_record_keep_working_on_memory_with_no_errors() -> None:
    metrics = Metrics()
    layer = await start_state(settings("memory"), metrics)
    await layer.gate.record(outcome(ALICE, "block"))
    layer.cache.put_many("c", "v1", ["t"], [{"bad": 0.1}])
    assert await layer.cache.get_many("c", "v1", ["t"]) == [{"bad": 0.1}]
    assert not layer.degraded
    for operation in ("admission", "record", "cache_get", "cache_set"):
        assert errors(metrics, operation) == 0
    await layer.close()


def test_an_unset_url_env_is_a_start_up_error_not_a_silent_memory_store(monkeypatch) -> None:
    """Replicas that silently fell back to their own memory would stop sharing bans."""
    from proxy.config.loader import ConfigError
    from proxy.config.state_settings import StoreConfig
    from proxy.state.factory import build_store

    monkeypatch.delenv("SP_TEST_REDIS_URL", raising=False)
    with pytest.raises(ConfigError, match="SP_TEST_REDIS_URL, which is not set"):
        build_store(StoreConfig(url_env="SP_TEST_REDIS_URL"))
    monkeypatch.setenv("SP_TEST_REDIS_URL", "redis://127.0.0.1:1/0")
    assert build_store(StoreConfig(url_env="SP_TEST_REDIS_URL")).kind == "redis"
