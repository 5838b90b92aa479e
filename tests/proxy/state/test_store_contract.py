"""The store contract: every test runs on the memory store, on a real Redis and on a real
three-node Redis Cluster (tests/proxy/state/conftest.py: the store fixture)."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest

from proxy.state.base import Escalation, Store
from proxy.state.ports import Ticket

ALICE = "a1" * 32
BOB = "b2" * 32
POLICY = Escalation(window_ms=10_000, throttle_at=3, throttle_ms=2_000, ban_at=5,
                    ban_ms=60_000, max_strikes=100)
T0 = int(time.time() * 1000)


async def strike(store: Store, principal: str, at_ms: int, weight: float = 1.0,
                 policy: Escalation = POLICY, event: dict[str, str] | None = None):
    return await store.record(principal, weight, event, policy, 1000, at_ms)


async def test_unknown_principal_stands_clear(store: Store) -> None:
    standing = await store.standing(ALICE, T0)
    assert (standing.banned_until_ms, standing.throttled_until_ms) == (0, 0)
    state = await store.principal(ALICE, POLICY.window_ms, T0)
    assert (state.strikes, state.strike_count) == (0, 0)


async def test_weighted_strikes_throttle_then_ban(store: Store) -> None:
    assert (await strike(store, ALICE, T0, 1.5)).escalation == ""
    third = await strike(store, ALICE, T0 + 1, 1.5)
    assert (third.strikes, third.escalation) == (3.0, "throttle")
    assert (await store.standing(ALICE, T0 + 1)).throttled_until_ms == T0 + 1 + 2_000
    banned = await strike(store, ALICE, T0 + 2, 2.0)
    assert (banned.strikes, banned.escalation) == (5.0, "ban")
    standing = await store.standing(ALICE, T0 + 2)
    assert standing.banned_until_ms == T0 + 2 + 60_000
    assert standing.throttled_until_ms == 0, "a ban replaces the throttle"
    assert (await store.principal(ALICE, POLICY.window_ms, T0 + 2)).strike_count == 0
    assert (await store.standing(BOB, T0 + 2)).banned_until_ms == 0, "others unaffected"


async def test_a_standing_read_in_process_is_the_standing(store: Store) -> None:
    """The memory store answers at once what ``standing`` answers (clear, throttled,
    banned, expired); Redis never claims to hold it (every read is a round trip)."""
    async def both(at_ms: int) -> tuple[object, object]:
        return store.standing_in_process(ALICE, at_ms), await store.standing(ALICE, at_ms)

    moments = []
    moments.append(await both(T0))
    await strike(store, ALICE, T0, 3.0)  # throttled
    moments.append(await both(T0 + 1))
    await strike(store, ALICE, T0 + 2, 2.0)  # banned
    moments.append(await both(T0 + 3))
    moments.append(await both(T0 + 2 + 60_000))  # the ban expired
    at_once = [in_process for in_process, _ in moments]
    if store.kind == "redis":
        assert at_once == [None] * 4
        return
    assert at_once == [asked for _, asked in moments]
    assert [(s.banned_until_ms, s.throttled_until_ms) for s in at_once] == [  # type: ignore[union-attr]
        (0, 0), (0, T0 + 2_000), (T0 + 2 + 60_000, 0), (0, 0)]
    with pytest.raises(ValueError):
        store.standing_in_process("sk-live-123", T0)  # a raw identifier, as ``standing``


async def test_throttle_and_ban_expire(store: Store) -> None:
    for i in range(3):
        await strike(store, ALICE, T0 + i)
    assert (await store.standing(ALICE, T0 + 2 + 1_999)).throttled_until_ms
    assert (await store.standing(ALICE, T0 + 2 + 2_000)).throttled_until_ms == 0
    for i in range(2):
        await strike(store, ALICE, T0 + 10 + i)
    ban_start = T0 + 11
    assert [b.principal for b in await store.bans(ban_start, 10)] == [ALICE]
    assert await store.banned_count(ban_start) == 1
    assert (await store.standing(ALICE, ban_start + 59_999)).banned_until_ms
    assert (await store.standing(ALICE, ban_start + 60_000)).banned_until_ms == 0
    assert await store.bans(ban_start + 60_000, 10) == []
    assert await store.banned_count(ban_start + 60_000) == 0


async def test_strikes_slide_out_of_the_window(store: Store) -> None:
    await strike(store, ALICE, T0)
    second = await strike(store, ALICE, T0 + POLICY.window_ms - 1)
    assert second.strikes == 2.0, "a strike one ms inside the window still counts"
    third = await strike(store, ALICE, T0 + POLICY.window_ms)
    assert third.strikes == 2.0, "the first strike left the window exactly at window_ms"
    assert (await store.principal(ALICE, POLICY.window_ms, T0 + POLICY.window_ms)).strikes == 2.0


async def test_strikes_kept_are_bounded(store: Store) -> None:
    bounded = Escalation(10_000, 1000, 1000, 2000, 1000, max_strikes=5)
    for i in range(20):
        result = await strike(store, ALICE, T0 + i, policy=bounded)
    assert result.strikes == 5.0
    assert (await store.principal(ALICE, 10_000, T0 + 20)).strike_count == 5


async def test_strikes_while_banned_do_not_re_escalate(store: Store) -> None:
    for i in range(5):
        await strike(store, ALICE, T0 + i)
    later = await strike(store, ALICE, T0 + 100, 10)
    assert later.escalation == ""
    assert (await store.standing(ALICE, T0 + 100)).banned_until_ms == T0 + 4 + 60_000


async def test_unban_lifts_everything(store: Store) -> None:
    assert await store.unban(ALICE) is False
    for i in range(5):
        await strike(store, ALICE, T0 + i)
    await strike(store, ALICE, T0 + 10)
    assert await store.unban(ALICE) is True
    standing = await store.standing(ALICE, T0 + 11)
    assert (standing.banned_until_ms, standing.throttled_until_ms) == (0, 0)
    assert (await store.principal(ALICE, POLICY.window_ms, T0 + 11)).strike_count == 0
    assert await store.bans(T0 + 11, 10) == []


async def test_events_carry_strikes_and_escalation_in_order(store: Store) -> None:
    for i in range(3):
        await strike(store, ALICE, T0 + i, event={"request_id": f"r{i}", "decision": "flag"})
    await store.record(None, 0, {"request_id": "anon", "decision": "block"}, POLICY, 1000, T0 + 3)
    events = await store.events(None, 100)
    assert [e.fields["request_id"] for e in events] == ["r0", "r1", "r2", "anon"]
    assert [e.fields["escalation"] for e in events] == ["", "", "throttle", ""]
    assert [e.fields["strikes"] for e in events] == ["1", "2", "3", "0"]
    after = await store.events(events[1].id, 100)
    assert [e.fields["request_id"] for e in after] == ["r2", "anon"]
    recent = await store.recent_events(2)
    assert [e.fields["request_id"] for e in recent] == ["r2", "anon"]


async def test_record_without_event_appends_nothing(store: Store) -> None:
    await strike(store, ALICE, T0)
    assert await store.events(None, 10) == []


async def test_event_stream_is_capped(store: Store) -> None:
    for i in range(400):
        await store.record(None, 0, {"request_id": str(i)}, POLICY, 50, T0 + i)
    kept = await store.events(None, 1000)
    assert 50 <= len(kept) <= 200, "capped near max_events (Redis trims whole nodes: ~)"
    assert kept[-1].fields["request_id"] == "399"


async def test_verdicts_round_trip_and_expire(store: Store) -> None:
    now = int(time.time() * 1000)
    await store.put_verdicts({"k:one": '{"bad": 0.5}', "k:two": "{}"}, 300, now)
    assert await store.get_verdicts(["k:one", "k:missing", "k:two"], now) == [
        '{"bad": 0.5}', None, "{}"]
    await asyncio.sleep(0.35)
    later = int(time.time() * 1000)
    assert await store.get_verdicts(["k:one", "k:two"], later) == [None, None]


@pytest.mark.parametrize("raw", ["sk-live-123", "user@example.com", "A1" * 32, ""])
async def test_raw_identifiers_are_refused_as_principals(store: Store, raw: str) -> None:
    with pytest.raises(ValueError, match="hex"):
        await store.standing(raw, T0)
    with pytest.raises(ValueError, match="hex"):
        await strike(store, raw, T0)


SLOTS = Escalation(window_ms=10_000, throttle_at=3, throttle_ms=2_000, ban_at=5, ban_ms=60_000,
                   max_strikes=100, slot_weight=1.0, slot_ttl_ms=5_000)


async def test_slots_and_strikes_share_the_throttle_threshold(store: Store) -> None:
    taken = [await store.reserve(ALICE, f"s{i}", SLOTS, T0) for i in range(5)]
    assert [r.reserved for r in taken] == [True, True, True, False, False]
    assert [r.in_flight for r in taken] == [1, 2, 3, 3, 3]
    assert await store.in_flight(ALICE, T0) == 3
    await store.release(ALICE, "s0")
    await store.release(ALICE, "s0")  # idempotent: frees one slot, not two
    assert await store.in_flight(ALICE, T0) == 2
    await strike(store, ALICE, T0, policy=SLOTS)  # 1 strike + 2 slots = 3: full
    assert not (await store.reserve(ALICE, "s5", SLOTS, T0)).reserved
    assert (await store.reserve(BOB, "s0", SLOTS, T0)).reserved, "others unaffected"


async def test_record_frees_its_slot_in_the_same_step(store: Store) -> None:
    for i in range(3):
        assert (await store.reserve(ALICE, f"s{i}", SLOTS, T0)).reserved
    await store.record(ALICE, 1.0, None, SLOTS, 1000, T0, Ticket(ALICE, "s0"))
    assert await store.in_flight(ALICE, T0) == 2
    await store.record(None, 0.0, None, SLOTS, 1000, T0, Ticket(ALICE, "s1"))  # a release
    assert await store.in_flight(ALICE, T0) == 1
    reservation = await store.reserve(ALICE, "s3", SLOTS, T0)
    assert (reservation.reserved, reservation.strikes) == (True, 1.0)


async def test_banned_or_throttled_take_no_slot_and_one_at_a_time_after(store: Store) -> None:
    for i in range(3):
        await strike(store, ALICE, T0 + i, policy=SLOTS)  # throttled until T0 + 2 + 2_000
    refused = await store.reserve(ALICE, "s0", SLOTS, T0 + 3)
    assert (refused.reserved, refused.standing.throttled_until_ms) == (False, T0 + 2_002)
    after = T0 + 2_002  # throttle over, 3 strikes still in the window: one at a time
    assert (await store.reserve(ALICE, "s1", SLOTS, after)).reserved
    assert not (await store.reserve(ALICE, "s2", SLOTS, after)).reserved
    for i in range(2):
        await strike(store, BOB, T0 + i, 3.0, policy=SLOTS)
    banned = await store.reserve(BOB, "s0", SLOTS, T0 + 2)
    assert (banned.reserved, bool(banned.standing.banned_until_ms)) == (False, True)
    assert await store.in_flight(BOB, T0 + 2) == 0


async def test_slots_expire_and_weight_zero_takes_none(store: Store) -> None:
    for i in range(3):
        await store.reserve(ALICE, f"s{i}", SLOTS, T0 + i)
    assert await store.in_flight(ALICE, T0 + 5_000) == 2, "the first expired at T0 + 5000"
    assert (await store.reserve(ALICE, "s3", SLOTS, T0 + 5_000)).reserved
    assert await store.in_flight(ALICE, T0 + 10_002) == 0
    off = dataclasses.replace(SLOTS, slot_weight=0.0)
    assert not any([(await store.reserve(BOB, f"s{i}", off, T0)).reserved for i in range(9)])
    assert await store.in_flight(BOB, T0) == 0


async def charge(store: Store, at_ms: int, weight: float = 1.0, *principals: str,
                 policy: Escalation = POLICY):
    return await store.charge([(p, policy) for p in principals or (ALICE,)], weight, at_ms)


async def strikes_of(store: Store, principal: str, at_ms: int) -> float:
    return (await store.principal(principal, POLICY.window_ms, at_ms)).strikes


async def test_charge_refuses_the_throttled_and_banned_and_adds_nothing(store: Store) -> None:
    results = [await charge(store, T0 + i) for i in range(3)]
    assert [r.admitted for r in results] == [True] * 3, "the 3rd passes and sets the throttle"
    assert [r.results[0].escalation for r in results] == ["", "", "throttle"]
    refused = await charge(store, T0 + 3)
    assert (refused.admitted, refused.results) == (False, ())
    assert refused.standings[0].throttled_until_ms == T0 + 2 + 2_000
    assert await strikes_of(store, ALICE, T0 + 3) == 3.0, "a refused charge adds no strike"
    after = await charge(store, T0 + 2_002)  # the throttle lapsed: passes, re-throttles
    assert (after.admitted, after.results[0].escalation) == (True, "throttle")
    assert (await charge(store, T0 + 4_002)).results[0].escalation == "ban"
    banned = await charge(store, T0 + 4_003)
    assert not banned.admitted and banned.standings[0].banned_until_ms == T0 + 4_002 + 60_000
    assert [b.principal for b in await store.bans(T0 + 4_003, 10)] == [ALICE]
    assert await strikes_of(store, ALICE, T0 + 4_003) == 0, "the ban cleared them; none added"


async def test_charge_escalates_exactly_as_record(store: Store) -> None:
    """The same strikes, one principal charged and one recorded, give the same results."""
    policy = Escalation(10_000, throttle_at=5, throttle_ms=1_000, ban_at=5, ban_ms=60_000,
                        max_strikes=3)  # a ban before any throttle: no charge is refused
    weights = [1.0, 1.5, 0.5, 2.0, 2.5]
    charged = [(await charge(store, T0 + i, w, policy=policy)).results[0]
               for i, w in enumerate(weights)]
    recorded = [await strike(store, BOB, T0 + i, w, policy=policy)
                for i, w in enumerate(weights)]
    assert charged == recorded
    assert [r.escalation for r in charged] == ["", "", "", "", "ban"]
    assert [r.strikes for r in charged[:4]] == [1.0, 2.5, 3.0, 4.0], "max_strikes 3 kept"


async def test_charge_is_one_step_for_every_principal(store: Store) -> None:
    """Any principal banned or throttled: nobody is charged; else each under its policy."""
    roomy = dataclasses.replace(POLICY, throttle_at=60, ban_at=150)  # an application key
    both = await store.charge([(BOB, roomy), (ALICE, POLICY)], 2.0, T0)
    assert both.admitted and [r.strikes for r in both.results] == [2.0, 2.0]
    again = await store.charge([(BOB, roomy), (ALICE, POLICY)], 2.0, T0 + 1)
    assert [r.escalation for r in again.results] == ["", "throttle"]
    refused = await store.charge([(BOB, roomy), (ALICE, POLICY)], 2.0, T0 + 2)
    assert not refused.admitted
    assert [bool(s.throttled_until_ms) for s in refused.standings] == [False, True]
    assert await strikes_of(store, BOB, T0 + 2) == 4.0, "not charged for a refused request"


async def test_a_strike_less_record_keeps_the_charge_told_in_its_event(store: Store) -> None:
    told = {"request_id": "charged", "strikes": "6", "escalation": "throttle"}
    await store.record(None, 0, told, POLICY, 1000, T0)
    await store.record(None, 0, {"request_id": "plain"}, POLICY, 1000, T0 + 1)
    await strike(store, ALICE, T0 + 2, event={"request_id": "struck"})
    events = [e.fields for e in await store.events(None, 10)]
    assert [(e["strikes"], e["escalation"]) for e in events] == [
        ("6", "throttle"), ("0", ""), ("1", "")]


async def test_a_charge_refused_by_one_principal_adds_nothing_to_the_others(
        store: Store) -> None:
    """Whichever principal refuses, listed first or last: on a cluster, ALICE and BOB sit
    in different slots, BOB's is charged first and its strike taken back."""
    for i in range(3):
        await strike(store, ALICE, T0 + i)  # throttled until T0 + 2 + 2_000
    refused = await store.charge([(ALICE, POLICY), (BOB, POLICY)], 1.0, T0 + 3)
    assert (refused.admitted, refused.results) == (False, ())
    assert [bool(s.throttled_until_ms) for s in refused.standings] == [True, False]
    assert await strikes_of(store, BOB, T0 + 3) == 0, "not charged for a refused request"
    assert await strikes_of(store, ALICE, T0 + 3) == 3.0
    admitted = await store.charge([(ALICE, POLICY), (BOB, POLICY)], 1.0, T0 + 2_002)
    assert admitted.admitted and [r.strikes for r in admitted.results] == [4.0, 1.0]


async def test_client_keys_are_kept_listed_and_revoked(store: Store) -> None:
    one, two = "c1" * 32, "c2" * 32
    assert await store.client_keys() == {} and await store.client_key(one) is None
    await store.put_client_key(one, '{"id": "one"}')
    await store.put_client_key(two, '{"id": "two"}')
    await store.put_client_key(two, '{"id": "two", "tenant": "acme"}')  # replaced, not added
    assert await store.client_keys() == {one: '{"id": "one"}',
                                         two: '{"id": "two", "tenant": "acme"}'}
    assert await store.client_key(one) == '{"id": "one"}'
    assert await store.delete_client_key(one) is True
    assert await store.delete_client_key(one) is False
    assert await store.client_key(one) is None and list(await store.client_keys()) == [two]
