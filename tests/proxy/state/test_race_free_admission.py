"""Race-free admission through the whole proxy, on the memory store, a real Redis and a real
Redis Cluster.

By default (no option): a flagged prompt's strike is charged before it is forwarded, in
the same atomic step that reads the ban and the throttle (``gate.charge``), so with
throttle_at 6 and a flag weighing 1 a new key sending 50 flag-level prompts at once gets
exactly 6 served (each one flagged; the 6th sets the throttle), the other 44 refused with
429 ``principal_throttled`` and no strike, and its strikes afterwards are 6: the
background records add nothing more. Clean requests are never capped.

Opt-in (abuse.in_flight_weight): admission also holds an in-flight slot per request and
counts it as a flag's weight (a principal is admitted while strikes + in_flight *
weights.flag < throttle_at), the only guard for answers flagged on output alone.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from proxy.observability.metrics import Metrics
from proxy.pipeline.identify import Identifier
from proxy.resources import ABUSE_GATE, IDENTIFIER, STATE_LAYER
from proxy.state.factory import start_state
from proxy.state.ports import ADMIT, Principal
from tests.proxy.state.conftest import Clock
from tests.proxy.state.helpers import SECRET, eventually, outcome, settings
from tests.support.redis_server import RedisServer

KEY, OTHER_KEY = "sk-race-new-key-0001", "sk-race-innocent-key-0002"
APP_KEY = "sp-race-app-key-0003"  # a client key trusted to name its end users
CHARGED = {"weights": {"flag": 1, "block": 3}, "window_s": 600, "throttle_at": 6,
           "throttle_s": 60, "ban_at": 100, "ban_s": 600}  # the default admission: no slots
ABUSE = {**CHARGED, "in_flight_ttl_s": 30,
         "in_flight_weight": None}  # opt-in: each request in flight weighs a flag
SERVED_AT_MOST = 6  # throttle_at / weights.flag


def sections(store: dict[str, Any], **abuse: Any) -> dict[str, Any]:
    """Config sections over ``store`` (the store_section fixture: memory, a real Redis or a
    real Redis Cluster)."""
    return {"store": {**store, "timeout_s": 10.0}, "identity": {"secret": SECRET},
            "abuse": {**ABUSE, **abuse}}


def chat(text: str, key: str = KEY, user: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": text}]}
    if user is not None:
        body["user"] = user
    return {"json": body, "headers": {"Authorization": f"Bearer {key}"}}


async def post(session: aiohttp.ClientSession, base: str, text: str, key: str = KEY,
               user: str | None = None) -> tuple[int, dict[str, str]]:
    async with session.post(f"{base}/v1/chat/completions", **chat(text, key, user)) as response:
        body = await response.json()
        code = body["error"]["code"] if response.status >= 400 else None
        return response.status, {**response.headers, "error-code": code or ""}


async def strikes(app: web.Application, principal: str) -> float:
    """The principal's weighted strikes in the store now."""
    layer = app[STATE_LAYER]
    state = await layer.store.principal(principal, 600_000, int(layer.gate.clock() * 1000))
    return state.strikes


def key_hash(app: web.Application, key: str = KEY) -> str:
    return app[IDENTIFIER].hash("api_key", key)


async def fifty_at_once(base: str, text: str, **who: Any) -> list[tuple[int, dict[str, str]]]:
    async with aiohttp.ClientSession() as session:
        return await asyncio.gather(*(post(session, base, f"{text} {n}", **who)
                                      for n in range(50)))


async def test_fifty_flag_level_prompts_at_once_serve_exactly_throttle_at(
        start_proxy, fake_upstream, store_section: dict[str, Any]) -> None:
    """The default config (no in-flight slots): each flag is charged before it goes up."""
    fake_upstream.delay_s = 0.3  # every request is still in flight when the last arrives
    base, app = await start_proxy(**sections(store_section, in_flight_weight=0))
    answers = await fifty_at_once(base, "MEHWORD")
    statuses = [status for status, _ in answers]
    assert statuses.count(200) == SERVED_AT_MOST, statuses
    refused = [headers for status, headers in answers if status == 429]
    assert len(refused) == 50 - SERVED_AT_MOST
    assert {(h["error-code"], h["x-safety-decision"], h["x-should-retry"]) for h in refused} == {
        ("principal_throttled", "refused", "false")}
    assert all(headers["x-safety-decision"] == "flag"
               for status, headers in answers if status == 200)
    assert len(fake_upstream.requests) == SERVED_AT_MOST, "the refused never went upstream"
    events = app[STATE_LAYER].store.recent_events

    async def recorded() -> bool:  # the served requests' background records have landed
        return len(await events(100)) == SERVED_AT_MOST
    await eventually(recorded)
    assert await strikes(app, key_hash(app)) == SERVED_AT_MOST, "charged once, never recorded again"
    escalations = [event.fields["escalation"] for event in await events(100)]
    assert escalations.count("throttle") == 1, "the event of the 6th tells its throttle"


async def test_fifty_flag_prompts_from_one_end_user_serve_at_most_throttle_at(
        start_proxy, fake_upstream, store_section: dict[str, Any]) -> None:
    """An application key names its end users: the user throttles at abuse.throttle_at (the
    key at abuse.application's 60); the refused requests strike neither."""
    fake_upstream.delay_s = 0.3
    base, app = await start_proxy(**sections(store_section, in_flight_weight=0), **app_keys())
    answers = await fifty_at_once(base, "MEHWORD", key=APP_KEY, user="mallory")
    statuses = [status for status, _ in answers]
    assert statuses.count(200) == SERVED_AT_MOST, statuses
    assert statuses.count(429) == 50 - SERVED_AT_MOST
    identifier = app[IDENTIFIER]
    app_hash = key_hash(app, APP_KEY)
    mallory = identifier.user_hash("mallory", app_hash)

    async def recorded() -> bool:
        return len(await app[STATE_LAYER].store.recent_events(100)) == SERVED_AT_MOST
    await eventually(recorded)
    assert await strikes(app, mallory) == SERVED_AT_MOST
    assert await strikes(app, app_hash) == SERVED_AT_MOST, "the key paid for the served only"
    async with aiohttp.ClientSession() as session:
        assert (await post(session, base, "hello", APP_KEY, "alice"))[0] == 200, "others served"


def app_keys() -> dict[str, Any]:
    hashed = Identifier(SECRET.encode()).hash("api_key", APP_KEY)
    return {"auth": {"mode": "keys", "keys": [
        {"id": "app", "hash": hashed, "name_users": True}]}}


async def test_clean_prompts_at_once_are_not_capped(
        start_proxy, fake_upstream, store_section: dict[str, Any]) -> None:
    """What the charge buys over in-flight slots: a principal's clean concurrency is free."""
    fake_upstream.delay_s = 0.3
    base, app = await start_proxy(**sections(store_section, in_flight_weight=0))
    answers = await fifty_at_once(base, "a clean question")
    assert [status for status, _ in answers] == [200] * 50
    assert {headers["x-safety-decision"] for _, headers in answers} == {"allow"}
    assert await strikes(app, key_hash(app)) == 0


async def in_flight(app: web.Application, key: str = KEY) -> int:
    layer = app[STATE_LAYER]
    key_hash = app[IDENTIFIER].hash("api_key", key)
    return await layer.store.in_flight(key_hash, int(layer.gate.clock() * 1000))


async def test_fifty_at_once_get_no_more_than_the_threshold(
        start_proxy, fake_upstream, store_section: dict[str, Any]) -> None:
    fake_upstream.delay_s = 0.3  # every request is still in flight when the last arrives
    base, app = await start_proxy(**sections(store_section))
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


async def test_clean_requests_release_their_slots(start_proxy,
                                                  store_section: dict[str, Any]) -> None:
    base, app = await start_proxy(**sections(store_section))
    async with aiohttp.ClientSession() as session:
        for _ in range(3 * SERVED_AT_MOST):  # one after another: never more than one slot
            assert (await post(session, base, "a clean question"))[0] == 200
        await eventually(lambda: _zero(app))


async def test_a_client_that_leaves_releases_its_slot(
        start_proxy, fake_upstream, store_section: dict[str, Any]) -> None:
    fake_upstream.delay_s = 5.0
    base, app = await start_proxy(**sections(store_section))
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
        start_proxy, store_section: dict[str, Any]) -> None:
    base, app = await start_proxy(**sections(store_section))
    async with aiohttp.ClientSession() as session:
        assert (await post(session, base, "BADWORD"))[0] == 400
        await eventually(lambda: _zero(app))
        state = await app[STATE_LAYER].store.principal(
            app[IDENTIFIER].hash("api_key", KEY),
            600_000, int(app[STATE_LAYER].gate.clock() * 1000))
        assert state.strikes == 3


async def test_the_slot_of_a_crashed_request_expires(
        store_section: dict[str, Any], clock: Clock) -> None:
    store = {key: value for key, value in store_section.items() if key != "url"}
    layer = await start_state(settings(store_section["url"], store=store, abuse=ABUSE),
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


async def test_in_flight_weight_zero_turns_slots_off(start_proxy, fake_upstream) -> None:
    fake_upstream.delay_s = 5.0
    base, app = await start_proxy(**sections({"url": "memory"}, in_flight_weight=0))
    async with aiohttp.ClientSession() as session:
        asking = asyncio.create_task(post(session, base, "MEHWORD"))
        await eventually(lambda: fake_upstream.requests)  # it is in flight now
        assert await in_flight(app) == 0, "no slot taken"
        asking.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asking


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


@pytest.mark.parametrize(("in_flight_weight", "takes_slots"), [(0, False), (None, True)])
async def test_an_admission_has_a_task_of_its_own_only_when_it_takes_a_slot(
        start_proxy, fake_upstream, in_flight_weight: float | None, takes_slots: bool) -> None:
    """Without slots an admission only reads, and runs in the request's own task (no task to
    create and schedule); with slots each admission is a task of its own, so a burst's
    admissions run before its first charge (routes.common.admit)."""
    base, app = await start_proxy(**sections({"url": "memory"},
                                             in_flight_weight=in_flight_weight))
    gate = app[ABUSE_GATE]
    assert gate.takes_slots is takes_slots
    own_task: list[bool] = []
    admit = gate.admit

    async def spying(principal: Principal) -> Any:
        task = asyncio.current_task()
        own_task.append(task is not None and task.get_coro().cr_code is spying.__code__)
        return await admit(principal)

    gate.admit = spying  # type: ignore[method-assign]
    async with aiohttp.ClientSession() as session:
        status, _ = await post(session, base, "hello there")
    assert status == 200
    assert own_task == [takes_slots]
