"""Race-free admission through the whole proxy, on the memory store and on a real Redis.

A strike lands only after its request's answer, so admission holds an in-flight slot per
request (taken atomically with the ban/throttle read) and counts it as a flag's weight:
a principal is admitted while strikes + in_flight * weights.flag < throttle_at. With
throttle_at 6 and a flag weighing 1, a new key sending 50 flag-level prompts at once
gets exactly throttle_at / weights.flag = 6 of them served (each one flagged), the other
44 refused with 429 ``principal_throttled``, whatever the store.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from multidict import CIMultiDict

from proxy.observability.metrics import Metrics
from proxy.pipeline.ports import ADMIT, Principal
from proxy.state.factory import STATE_LAYER, start_state
from tests.state.conftest import Clock, RedisServer
from tests.state.helpers import SECRET, eventually, outcome, settings

KEY, OTHER_KEY = "sk-race-new-key-0001", "sk-race-innocent-key-0002"
ABUSE = {"weights": {"flag": 1, "block": 3}, "window_s": 600, "throttle_at": 6,
         "throttle_s": 60, "ban_at": 100, "ban_s": 600, "in_flight_ttl_s": 30,
         "in_flight_weight": None}  # opt-in: each request in flight weighs a flag
SERVED_AT_MOST = 6  # throttle_at / weights.flag


@pytest.fixture(params=["memory", "redis"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "memory":
        yield "memory"
        return
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server.url
    finally:
        server.kill()


def sections(store_url: str, **abuse: Any) -> dict[str, Any]:
    return {"store": {"url": store_url, "timeout_s": 2.0}, "identity": {"secret": SECRET},
            "abuse": {**ABUSE, **abuse}}


def chat(text: str, key: str = KEY) -> dict[str, Any]:
    return {"json": {"model": "m", "messages": [{"role": "user", "content": text}]},
            "headers": {"Authorization": f"Bearer {key}"}}


async def post(session: aiohttp.ClientSession, base: str, text: str,
               key: str = KEY) -> tuple[int, dict[str, str]]:
    async with session.post(f"{base}/v1/chat/completions", **chat(text, key)) as response:
        await response.read()
        return response.status, dict(response.headers)


async def in_flight(app: web.Application, key: str = KEY) -> int:
    layer = app[STATE_LAYER]
    principal = layer.identifier.identify(CIMultiDict(Authorization=f"Bearer {key}"), None)
    assert principal.key_hash is not None
    return await layer.store.in_flight(principal.key_hash, int(layer.gate.clock() * 1000))


async def test_fifty_at_once_get_no_more_than_the_threshold(
        start_proxy, fake_upstream, store_url: str) -> None:
    fake_upstream.delay_s = 0.3  # every request is still in flight when the last arrives
    base, app = await start_proxy(**sections(store_url))
    async with aiohttp.ClientSession() as session:
        answers = await asyncio.gather(*(post(session, base, f"MEHWORD {n}")
                                         for n in range(50)))
        statuses = [status for status, _ in answers]
        assert statuses.count(200) == SERVED_AT_MOST, statuses
        assert statuses.count(429) == 50 - SERVED_AT_MOST
        assert all(headers["x-safety-decision"] == "flag"
                   for status, headers in answers if status == 200)
        await eventually(lambda: _zero(app))
        status, headers = await post(session, base, "hello")
        assert (status, headers.get("x-should-retry")) == (429, "false"), "now really throttled"
        assert (await post(session, base, "hello", OTHER_KEY))[0] == 200, "others unaffected"
        await eventually(lambda: _zero(app, OTHER_KEY))
    assert len(fake_upstream.requests) == SERVED_AT_MOST + 1


async def _zero(app: web.Application, key: str = KEY) -> bool:
    return await in_flight(app, key) == 0


async def test_clean_requests_release_their_slots(start_proxy, store_url: str) -> None:
    base, app = await start_proxy(**sections(store_url))
    async with aiohttp.ClientSession() as session:
        for _ in range(3 * SERVED_AT_MOST):  # one after another: never more than one slot
            assert (await post(session, base, "a clean question"))[0] == 200
        await eventually(lambda: _zero(app))


async def test_a_client_that_leaves_releases_its_slot(
        start_proxy, fake_upstream, store_url: str) -> None:
    fake_upstream.delay_s = 5.0
    base, app = await start_proxy(**sections(store_url))
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1.0)) as session:
        leaving = asyncio.create_task(post(session, base, "MEHWORD and then gone"))

        async def held() -> bool:
            return await in_flight(app) == 1
        await eventually(held)
        with pytest.raises(TimeoutError):
            await leaving
    await asyncio.wait_for(fake_upstream.disconnected.wait(), 5)
    await eventually(lambda: _zero(app))


async def test_a_blocked_request_frees_its_slot_as_its_strike_lands(
        start_proxy, store_url: str) -> None:
    base, app = await start_proxy(**sections(store_url))
    async with aiohttp.ClientSession() as session:
        assert (await post(session, base, "BADWORD"))[0] == 400
        await eventually(lambda: _zero(app))
        state = await app[STATE_LAYER].store.principal(
            app[STATE_LAYER].identifier.identify(
                CIMultiDict(Authorization=f"Bearer {KEY}"), None).key_hash or "",
            600_000, int(app[STATE_LAYER].gate.clock() * 1000))
        assert state.strikes == 3


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_the_slot_of_a_crashed_request_expires(
        backend: str, clock: Clock, tmp_path: Path) -> None:
    server = RedisServer(tmp_path) if backend == "redis" else None
    if server is not None:
        server.start()
    layer = await start_state(settings(server.url if server else "memory", abuse=ABUSE),
                              Metrics(), clock=clock)
    try:
        alice = Principal("a1" * 32, "api_key")
        held = [await layer.gate.admit(alice) for _ in range(SERVED_AT_MOST)]
        assert all(admission.ticket is not None for admission in held)  # never handed back
        refused = await layer.gate.admit(alice)
        assert (refused.state, refused.retry_after_s) == ("throttled", 1)
        clock.advance(29.9)
        assert (await layer.gate.admit(alice)).state == "throttled"
        clock.advance(0.2)  # in_flight_ttl_s 30 has passed for every slot
        assert await layer.store.in_flight(alice.key_hash or "", clock.ms) == 0
        again = await layer.gate.admit(alice)
        assert again == ADMIT and again.ticket is not None
        await layer.gate.record(outcome(alice.key_hash, "allow"), again.ticket)
        assert await layer.store.in_flight(alice.key_hash or "", clock.ms) == 0
    finally:
        await layer.close()
        if server is not None:
            server.kill()


async def test_in_flight_weight_zero_turns_slots_off(start_proxy, fake_upstream) -> None:
    fake_upstream.delay_s = 0.3
    base, app = await start_proxy(**sections("memory", in_flight_weight=0))
    async with aiohttp.ClientSession() as session:
        statuses = await asyncio.gather(*(post(session, base, "MEHWORD") for _ in range(20)))
    assert [status for status, _ in statuses].count(200) == 20, "the old, racy admission"
    assert await in_flight(app) == 0


async def test_an_admission_cancelled_mid_way_frees_the_slot_it_took(
        redis_server: RedisServer, clock: Clock) -> None:
    layer = await start_state(settings(redis_server.url, abuse=ABUSE), Metrics(), clock=clock)
    try:
        alice = "a1" * 32
        admitting = asyncio.create_task(layer.gate.admit(Principal(alice, "api_key")))
        await asyncio.sleep(0)  # the script is queued (and will run); its caller leaves
        admitting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await admitting

        async def freed() -> bool:
            return await layer.store.in_flight(alice, clock.ms) == 0
        await asyncio.sleep(0.1)
        await eventually(freed)
        assert (await layer.gate.admit(Principal(alice, "api_key"))).ticket is not None
    finally:
        await layer.close()
