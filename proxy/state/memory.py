"""The in-process store: the embedded default for one process (the demo, a laptop).

Same rules as the Redis scripts (see scripts.py); every map is bounded by ``max_keys``
(least recently written entries go first) and entries expire on read. Event ids follow the
Redis stream format so cursors work the same on both stores.

Atomicity without locks: the event loop runs one coroutine at a time and no method here
awaits anything, so each operation (``reserve``'s read-and-take in particular) runs whole
before any other request's (``charge``'s standings read and strikes in particular).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Mapping, Sequence
from typing import Generic, TypeVar

from proxy.state.base import (
    Ban,
    Charge,
    Escalation,
    EscalationStep,
    Event,
    PrincipalState,
    RecordResult,
    Reservation,
    Standing,
    strike_text,
    strike_total,
)
from proxy.state.keys import check_principal
from proxy.state.ports import Ticket

V = TypeVar("V")


class ExpiringMap(Generic[V]):
    """A map of at most ``max_keys`` entries whose entries carry their own expiry time
    (epoch ms, passed in like every time here): the least recently written goes first
    (writing a key again moves it to the back), or with ``keep_used`` the least recently
    used (a hit moves it to the back too: an LRU, the verdict cache's). An OrderedDict:
    every admission reads two of these, every check of every request the verdict cache,
    and its operations are C."""

    def __init__(self, max_keys: int, *, keep_used: bool = False) -> None:
        self._max_keys, self._keep_used = max_keys, keep_used
        self._items: OrderedDict[str, tuple[int, V]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: str, now_ms: int) -> V | None:
        item = self._items.get(key)
        if item is None:
            return None
        if item[0] <= now_ms:
            del self._items[key]
            return None
        if self._keep_used:
            self._items.move_to_end(key)
        return item[1]

    def set(self, key: str, value: V, expires_ms: int) -> None:
        self._items[key] = (expires_ms, value)
        self._items.move_to_end(key)
        if len(self._items) > self._max_keys:
            self._items.popitem(last=False)

    def pop(self, key: str) -> V | None:
        item = self._items.pop(key, None)
        return None if item is None else item[1]

    def live(self, now_ms: int) -> list[tuple[str, int, V]]:
        return [(key, expires, value) for key, (expires, value) in self._items.items()
                if expires > now_ms]


class MemoryStore:
    kind = "memory"

    def __init__(self, max_keys: int = 100_000, max_events: int = 10_000) -> None:
        self._strikes: ExpiringMap[list[tuple[int, float]]] = ExpiringMap(max_keys)
        self._throttles: ExpiringMap[int] = ExpiringMap(max_keys)
        self._bans: ExpiringMap[int] = ExpiringMap(max_keys)
        self._verdicts: ExpiringMap[str] = ExpiringMap(max_keys)
        self._slots: ExpiringMap[dict[str, int]] = ExpiringMap(max_keys)  # slot id -> expiry ms
        self._events: deque[Event] = deque(maxlen=max_events)
        self._client_keys: dict[str, str] = {}  # key hash -> record (JSON)
        self._last_id = (0, 0)

    async def standing(self, principal: str, now_ms: int) -> Standing:
        return self.standing_in_process(principal, now_ms)

    def standing_in_process(self, principal: str, now_ms: int) -> Standing:
        return self._standing(check_principal(principal), now_ms)

    def _standing(self, principal: str, now_ms: int) -> Standing:
        return Standing(self._bans.get(principal, now_ms) or 0,
                        self._throttles.get(principal, now_ms) or 0)

    async def reserve(self, principal: str, slot: str, policy: Escalation,
                      now_ms: int) -> Reservation:
        standing = self._standing(check_principal(principal), now_ms)
        if standing.banned_until_ms or standing.throttled_until_ms or policy.slot_weight <= 0:
            return Reservation(standing, False, 0, 0.0)
        live = self._live_slots(principal, now_ms)
        strikes = strike_total([w for _, w in self._live_strikes(principal, policy.window_ms,
                                                                 now_ms)])
        if live and strikes + len(live) * policy.slot_weight >= policy.throttle_at:
            return Reservation(standing, False, len(live), strikes)
        live[slot] = now_ms + policy.slot_ttl_ms
        self._slots.set(principal, live, max(live.values()))
        return Reservation(standing, True, len(live), strikes)

    def _live_slots(self, principal: str, now_ms: int) -> dict[str, int]:
        slots = self._slots.get(principal, now_ms) or {}
        return {slot: until for slot, until in slots.items() if until > now_ms}

    async def release(self, principal: str, slot: str) -> None:
        self._release(check_principal(principal), slot)

    def _release(self, principal: str, slot: str) -> None:
        slots = self._slots.pop(principal)
        if slots is None:
            return
        slots.pop(slot, None)
        if slots:
            self._slots.set(principal, slots, max(slots.values()))

    async def in_flight(self, principal: str, now_ms: int) -> int:
        return len(self._live_slots(check_principal(principal), now_ms))

    async def record(self, principal: str | None, weight: float, event: Mapping[str, str] | None,
                     policy: Escalation, max_events: int, now_ms: int,
                     release: Ticket | None = None) -> RecordResult:
        total, step = 0.0, ""  # type: tuple[float, EscalationStep]
        if principal is not None and weight > 0:
            total, step = self._strike(check_principal(principal), weight, policy, now_ms)
        if release is not None:
            self._release(check_principal(release.principal), release.id)
        if event is not None:
            stamp = {"strikes": strike_text(total), "escalation": step}
            struck = principal is not None and weight > 0
            self._append({**event, **stamp} if struck else {**stamp, **event}, now_ms,
                         max_events)
        return RecordResult(total, step)

    async def charge(self, principals: Sequence[tuple[str, Escalation]], weight: float,
                     now_ms: int) -> Charge:
        standings = tuple(self._standing(check_principal(principal), now_ms)
                          for principal, _ in principals)
        if any(s.banned_until_ms or s.throttled_until_ms for s in standings):
            return Charge(False, standings, ())
        results = tuple(RecordResult(*self._strike(principal, weight, policy, now_ms))
                        for principal, policy in principals)
        return Charge(True, standings, results)

    def _strike(self, principal: str, weight: float, policy: Escalation,
                now_ms: int) -> tuple[float, EscalationStep]:
        kept = [*self._live_strikes(principal, policy.window_ms, now_ms), (now_ms, weight)]
        kept = kept[-policy.max_strikes:]
        self._strikes.set(principal, kept, now_ms + policy.window_ms)
        total = strike_total([w for _, w in kept])
        if self._bans.get(principal, now_ms):
            return total, ""
        if total >= policy.ban_at:
            self._bans.set(principal, now_ms + policy.ban_ms, now_ms + policy.ban_ms)
            self._strikes.pop(principal)
            self._throttles.pop(principal)
            return total, "ban"
        if total >= policy.throttle_at:
            until = now_ms + policy.throttle_ms
            self._throttles.set(principal, until, until)
            return total, "throttle"
        return total, ""

    def _live_strikes(self, principal: str, window_ms: int,
                      now_ms: int) -> list[tuple[int, float]]:
        strikes = self._strikes.get(principal, now_ms) or []
        return [(at, w) for at, w in strikes if now_ms - at < window_ms]

    def _append(self, fields: dict[str, str], now_ms: int, max_events: int) -> None:
        ms, seq = self._last_id
        self._last_id = (ms, seq + 1) if now_ms <= ms else (now_ms, 0)
        self._events.append(Event(f"{self._last_id[0]}-{self._last_id[1]}", fields))
        while len(self._events) > max_events:
            self._events.popleft()

    async def get_verdicts(self, keys: Sequence[str], now_ms: int) -> list[str | None]:
        return [self._verdicts.get(key, now_ms) for key in keys]

    async def put_verdicts(self, items: Mapping[str, str], ttl_ms: int, now_ms: int) -> None:
        for key, value in items.items():
            self._verdicts.set(key, value, now_ms + ttl_ms)

    async def bans(self, now_ms: int, limit: int) -> list[Ban]:
        live = sorted(self._bans.live(now_ms), key=lambda item: item[1])
        return [Ban(principal, until) for principal, until, _ in live[:limit]]

    async def banned_count(self, now_ms: int) -> int:
        return len(self._bans.live(now_ms))

    async def principal(self, principal: str, window_ms: int, now_ms: int) -> PrincipalState:
        strikes = self._live_strikes(principal, window_ms, now_ms)
        standing = await self.standing(principal, now_ms)
        return PrincipalState(principal, strike_total([w for _, w in strikes]), len(strikes),
                              standing.banned_until_ms, standing.throttled_until_ms)

    async def unban(self, principal: str) -> bool:
        check_principal(principal)
        self._strikes.pop(principal)
        self._throttles.pop(principal)
        return self._bans.pop(principal) is not None

    async def events(self, after: str | None, count: int) -> list[Event]:
        start = _id_tuple(after) if after else (-1, -1)
        return [e for e in self._events if _id_tuple(e.id) > start][:count]

    async def recent_events(self, count: int) -> list[Event]:
        return list(self._events)[-count:] if count > 0 else []

    async def client_keys(self) -> dict[str, str]:
        return dict(self._client_keys)

    async def client_key(self, key_hash: str) -> str | None:
        return self._client_keys.get(check_principal(key_hash))

    async def put_client_key(self, key_hash: str, record: str) -> None:
        self._client_keys[check_principal(key_hash)] = record

    async def delete_client_key(self, key_hash: str) -> bool:
        return self._client_keys.pop(check_principal(key_hash), None) is not None

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None


def _id_tuple(event_id: str) -> tuple[int, int]:
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq or 0)
