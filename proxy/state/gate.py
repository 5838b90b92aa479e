"""The AbuseGate over a store: admission before the checks, strikes and events after.

Hot path: ``admit`` is one store read (ban and throttle in one MGET); ``record`` is one
script (strike, window trim, escalation, review event) and runs only for flags and blocks.

Contract: neither method raises for a store fault. While the store is down, ``admit``
follows ``store.on_error`` (fail_open: admit; fail_closed: the "unavailable" admission, a
503 for the handler) and ``record`` keeps the record (a bounded queue, oldest dropped
first) to write it, with its original time, once the store is back.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from proxy.observability.metrics import Metrics
from proxy.pipeline.ports import ADMIT, Admission, Outcome, Principal
from proxy.state.base import Escalation, Standing, Store, StoreError
from proxy.state.events import event_fields
from proxy.state.health import StoreHealth
from proxy.state.settings import AbuseConfig, EventsConfig, StoreConfig


@dataclass(frozen=True, slots=True)
class _Record:
    principal: str | None
    decision: str
    weight: float
    event: dict[str, str] | None
    now_ms: int


def escalation(abuse: AbuseConfig) -> Escalation:
    return Escalation(int(abuse.window_s * 1000), abuse.throttle_at, int(abuse.throttle_s * 1000),
                      abuse.ban_at, int(abuse.ban_s * 1000), abuse.max_strikes)


class StoreAbuseGate:
    def __init__(self, store: Store, health: StoreHealth, metrics: Metrics, *,
                 store_config: StoreConfig, abuse: AbuseConfig, events: EventsConfig,
                 clock: Callable[[], float] = time.time) -> None:
        self.store, self.health, self.metrics, self.clock = store, health, metrics, clock
        self._fail_open = store_config.on_error == "fail_open"
        self._pending: deque[_Record] = deque(maxlen=store_config.max_pending_records)
        self.update(abuse, events)
        health.on_recovered = self.flush_pending

    def update(self, abuse: AbuseConfig, events: EventsConfig) -> None:
        """Takes new abuse and event settings (config reload); the store stays."""
        self.abuse, self.events, self.policy = abuse, events, escalation(abuse)

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    async def admit(self, principal: Principal) -> Admission:
        if not self.abuse.enabled or principal.key_hash is None:
            return ADMIT
        if not self.health.up:
            self.health.skipped("admission")
            return self._store_down()
        now_ms = self._now_ms()
        try:
            async with self.health.timed("admission"):
                standing = await self.store.standing(principal.key_hash, now_ms)
        except StoreError:
            return self._store_down()
        return self._admission(standing, now_ms)

    def _store_down(self) -> Admission:
        return ADMIT if self._fail_open else Admission("unavailable", 1)

    def _admission(self, standing: Standing, now_ms: int) -> Admission:
        if standing.banned_until_ms:
            self.metrics.banned_requests.inc()
            return Admission("banned", _seconds_until(standing.banned_until_ms, now_ms))
        if standing.throttled_until_ms:
            self.metrics.throttles.inc()
            return Admission("throttled", _seconds_until(standing.throttled_until_ms, now_ms))
        return ADMIT

    async def record(self, outcome: Outcome) -> None:
        record = self._record_of(outcome)
        if record is None:
            return
        if not self.health.up:
            self.health.skipped("record")
            self._pending.append(record)
            return
        if not await self._write(record):
            self._pending.append(record)

    def _record_of(self, outcome: Outcome) -> _Record | None:
        action = outcome.decision.action
        if action == "allow":
            return None
        now_ms = self._now_ms()
        weight = getattr(self.abuse.weights, action) if self.abuse.enabled else 0.0
        event = event_fields(outcome, self.events, now_ms) if self.events.enabled else None
        if event is None and (weight <= 0 or outcome.principal.key_hash is None):
            return None
        return _Record(outcome.principal.key_hash, action, weight, event, now_ms)

    async def _write(self, record: _Record) -> bool:
        try:
            async with self.health.timed("record"):
                result = await self.store.record(
                    record.principal, record.weight, record.event, self.policy,
                    self.events.max_len, record.now_ms)
        except StoreError:
            return False
        if record.principal is not None and record.weight > 0:
            self.metrics.strikes.labels(record.decision).inc()
        if result.escalation == "ban":
            self.metrics.bans.inc()
        return True

    async def flush_pending(self) -> None:
        """Writes the records kept while the store was down, oldest first."""
        while self._pending and self.health.up:
            record = self._pending.popleft()
            if not await self._write(record):
                self._pending.appendleft(record)
                return

    @property
    def pending(self) -> int:
        return len(self._pending)


def _seconds_until(until_ms: int, now_ms: int) -> int:
    return max(1, math.ceil((until_ms - now_ms) / 1000))
