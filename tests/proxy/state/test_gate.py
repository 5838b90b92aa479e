"""The abuse gate over both stores: escalation, events, metrics (store faults: test_faults.py)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import orjson
import pytest

from proxy.observability.metrics import Metrics
from proxy.state.factory import StateLayer, start_state
from proxy.state.ports import ADMIT, Principal
from proxy.verdict import Decision, Reason
from tests.proxy.state.conftest import Clock
from tests.proxy.state.helpers import outcome, sample, settings
from tests.support.redis_server import RedisServer

ALICE = "a1" * 32
ABUSE = {"window_s": 60, "throttle_at": 3, "throttle_s": 10, "ban_at": 6, "ban_s": 100,
         "weights": {"flag": 1, "block": 2}}


@pytest.fixture(params=["memory", "redis"])
async def layer(request: pytest.FixtureRequest, tmp_path, clock: Clock):
    url = "memory"
    server = None
    if request.param == "redis":
        server = RedisServer(tmp_path)
        server.start()
        url = server.url
    state = await start_state(settings(url, abuse=ABUSE, events={"text": "truncated",
                                                                 "truncate_chars": 20}),
                              Metrics(), clock=clock)
    yield state
    await state.close()
    if server is not None:
        server.kill()


def metrics_of(layer: StateLayer) -> Metrics:
    return layer.health.metrics


async def test_flags_throttle_then_blocks_ban_then_the_ban_expires(layer, clock) -> None:
    gate, principal = layer.gate, Principal(ALICE, "api_key")
    for _ in range(2):
        await gate.record(outcome(ALICE, "flag"))
    assert await gate.admit(principal) == ADMIT
    await gate.record(outcome(ALICE, "flag"))
    throttled = await gate.admit(principal)
    assert (throttled.state, throttled.retry_after_s) == ("throttled", 10)
    clock.advance(4.5)
    assert (await gate.admit(principal)).retry_after_s == 6, "Retry-After counts down"
    for _ in range(2):
        await gate.record(outcome(ALICE, "block"))  # 3 + 2 + 2 = 7 >= 6
    banned = await gate.admit(principal)
    assert (banned.state, banned.retry_after_s) == ("banned", 100)
    metrics = metrics_of(layer)
    assert sample(metrics, "safety_proxy_strikes_total", {"decision": "flag"}) == 3
    assert sample(metrics, "safety_proxy_strikes_total", {"decision": "block"}) == 2
    assert sample(metrics, "safety_proxy_bans_total") == 1
    assert sample(metrics, "safety_proxy_throttles_total") == 2
    assert sample(metrics, "safety_proxy_banned_requests_total") == 1
    await layer.refresh_metrics()
    assert sample(metrics, "safety_proxy_banned_principals") == 1
    clock.advance(100)
    assert await gate.admit(principal) == ADMIT
    await layer.refresh_metrics()
    assert sample(metrics, "safety_proxy_banned_principals") == 0


async def test_allowed_requests_leave_no_trace(layer) -> None:
    for _ in range(10):
        await layer.gate.record(outcome(ALICE, "allow"))
    assert await layer.gate.admit(Principal(ALICE, "api_key")) == ADMIT
    assert await layer.store.recent_events(10) == []
    assert (await layer.store.principal(ALICE, 60_000, 0)).strike_count == 0


async def test_anonymous_requests_are_events_but_never_struck(layer) -> None:
    for _ in range(10):
        await layer.gate.record(outcome(None, "block"))
    assert await layer.gate.admit(Principal(None)) == ADMIT
    events = await layer.store.recent_events(100)
    assert len(events) == 10
    assert {e.fields["principal"] for e in events} == {""}
    assert sample(metrics_of(layer), "safety_proxy_strikes_total", {"decision": "block"}) == 0


async def test_review_event_fields(layer, clock) -> None:
    await layer.gate.record(outcome(ALICE, "block", request_id="req-77"))
    [event] = await layer.store.recent_events(1)
    fields = event.fields
    assert fields["time"] == datetime.fromtimestamp(clock.ms / 1000, UTC).isoformat(
        timespec="milliseconds")
    assert fields["request_id"] == "req-77"
    assert fields["principal"] == ALICE
    assert (fields["tenant"], fields["model"], fields["direction"]) == ("acme", "gpt-test", "input")
    assert fields["decision"] == "block"
    assert orjson.loads(fields["reasons"])[0]["classifier"] == "script"
    assert orjson.loads(fields["scores"]) == {"input.script": {"bad": 1.0}}
    assert orjson.loads(fields["text"]) == {"input": ["hello", "x" * 20 + "…"]}
    assert (fields["strikes"], fields["escalation"]) == ("2", "")


@pytest.mark.parametrize(("mode", "expected"), [("off", None), ("full", ["hello", "y" * 300])])
async def test_event_text_follows_the_config(clock, mode, expected) -> None:
    layer = await start_state(settings(events={"text": mode}), Metrics(), clock=clock)
    await layer.gate.record(outcome(ALICE, texts={"input": ["hello", "y" * 300]}))
    [event] = await layer.store.recent_events(1)
    text = event.fields.get("text")
    assert (orjson.loads(text)["input"] if text else None) == expected


async def test_disabled_abuse_admits_everyone_and_strikes_nobody(clock) -> None:
    layer = await start_state(settings(abuse={"enabled": False, "throttle_at": 1, "ban_at": 1}),
                              Metrics(), clock=clock)
    for _ in range(5):
        await layer.gate.record(outcome(ALICE, "block"))
    assert await layer.gate.admit(Principal(ALICE, "api_key")) == ADMIT
    assert len(await layer.store.recent_events(10)) == 5, "events are still kept for review"
    assert layer.gate.input_weight(decision("block")) == 0, "nothing is charged"


def decision(action: str) -> Decision:
    return Decision(action, (Reason("script", "bad", 0.7, 0.5, action),))  # type: ignore[arg-type]


async def test_a_charged_input_strikes_once_and_the_record_adds_only_the_rest(layer) -> None:
    gate, alice = layer.gate, Principal(ALICE, "api_key")
    assert gate.input_weight(decision("flag")) == 1
    charge = await gate.charge([alice, Principal(None)], 1.0)
    assert charge.admission == ADMIT and list(charge.charged) == [ALICE]
    await gate.record(dataclasses.replace(outcome(ALICE, "flag"), charged=charge.charged))
    assert (await layer.store.principal(ALICE, 60_000, 0)).strikes == 1, "not twice"
    [event] = await layer.store.recent_events(1)
    assert (event.fields["strikes"], event.fields["escalation"]) == ("1", "")
    blocked_answer = dataclasses.replace(  # the answer weighs more: the record adds 2 - 1
        outcome(ALICE, "block"), directions={"input": decision("flag"),
                                             "output": decision("block")},
        charged=(await gate.charge([alice], 1.0)).charged)
    await gate.record(blocked_answer)  # 1 + 1 + 1 = 3: throttled
    assert (await layer.store.principal(ALICE, 60_000, 0)).strikes == 3
    metrics = metrics_of(layer)
    assert sample(metrics, "safety_proxy_strikes_total", {"decision": "flag"}) == 2
    assert sample(metrics, "safety_proxy_strikes_total", {"decision": "block"}) == 1


async def test_a_charge_is_refused_while_throttled_and_adds_nothing(layer, clock) -> None:
    gate, alice = layer.gate, Principal(ALICE, "api_key")
    charges = [await gate.charge([alice], 1.0) for _ in range(4)]
    assert [c.admission.state for c in charges] == ["ok", "ok", "ok", "throttled"]
    assert charges[2].charged[ALICE].escalation == "throttle"
    assert (charges[3].admission.retry_after_s, charges[3].charged) == (10, {})
    assert sample(metrics_of(layer), "safety_proxy_throttles_total") == 1
    clock.advance(10)  # the throttle lapsed: the next charge passes and re-throttles
    assert (await gate.charge([alice], 1.0)).charged[ALICE].escalation == "throttle"
    assert (await layer.store.principal(ALICE, 60_000, clock.ms)).strikes == 4


async def test_input_weight_is_the_heaviest_input_reason(layer) -> None:
    gate = layer.gate
    assert gate.input_weight(decision("block")) == 2
    assert gate.input_weight(decision("redact")) == 0, "a redaction weighs nothing by default"
    assert gate.input_weight(Decision("allow")) == 0
    assert (await gate.charge([Principal(ALICE, "api_key")], 0.0)).charged == {}


@pytest.mark.parametrize(("on_error", "state"), [("fail_open", "ok"),
                                                 ("fail_closed", "unavailable")])
async def test_a_charge_with_the_store_down_follows_on_error(
        redis_server: RedisServer, on_error: str, state: str) -> None:
    layer = await start_state(settings(redis_server.url, abuse=ABUSE,
                                       store={"on_error": on_error}), Metrics())
    try:
        redis_server.kill()
        for _ in range(2):  # the failure itself, then the store known down
            charge = await layer.gate.charge([Principal(ALICE, "api_key")], 1.0)
            assert (charge.admission.state, charge.charged) == (state, {})
    finally:
        await layer.close()
