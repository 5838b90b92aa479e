"""The AbuseGate over a store: admission before the checks, strikes and events after.

Hot path: ``admit`` is one script (ban and throttle read, and an in-flight slot taken, in
one atomic step); ``record`` is one script (strike, window trim, escalation, review event,
the slot freed) and runs only for flags and blocks; ``release`` frees the slot of any other
request (one ZREM).

Race-free admission: the strike of a request lands only after its answer, so admission
counts each request still in flight as ``abuse.slot_weight`` strikes (default: a flag's
weight). A principal is admitted while strikes + in-flight * slot_weight < throttle_at (or
nothing is in flight: after a throttle ends, one request at a time, each re-throttling
when it strikes), so however many requests it sends at once, no more get past the
threshold than would one after another: at most max(1, ceil((throttle_at - strikes) /
slot_weight)) at a time. A request refused for a full set of slots gets the throttle
answer with Retry-After 1 (the requests in flight end soon).

Contract: neither method raises for a store fault. While the store is down, ``admit``
follows ``store.on_error`` (fail_open: admit; fail_closed: the "unavailable" admission, a
503 for the handler) and ``record`` keeps the record (a bounded queue, oldest dropped
first) to write it, with its original time, once the store is back.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from proxy.observability.metrics import Metrics
from proxy.pipeline.decision import Reason
from proxy.pipeline.ports import ADMIT, Admission, Outcome, Principal, Ticket
from proxy.state.base import Escalation, Reservation, Store, StoreError
from proxy.state.events import event_fields
from proxy.state.health import StoreHealth
from proxy.state.settings import AbuseConfig, EventsConfig, StoreConfig, StrikeWeights


@dataclass(frozen=True, slots=True)
class _Record:
    principal: str | None
    decision: str
    weight: float
    event: dict[str, str] | None
    now_ms: int
    ticket: Ticket | None = None


def escalation(abuse: AbuseConfig) -> Escalation:
    return Escalation(int(abuse.window_s * 1000), abuse.throttle_at, int(abuse.throttle_s * 1000),
                      abuse.ban_at, int(abuse.ban_s * 1000), abuse.max_strikes,
                      abuse.slot_weight, int(abuse.in_flight_ttl_s * 1000))


class StoreAbuseGate:
    def __init__(self, store: Store, health: StoreHealth, metrics: Metrics, *,
                 store_config: StoreConfig, abuse: AbuseConfig, events: EventsConfig,
                 clock: Callable[[], float] = time.time) -> None:
        self.store, self.health, self.metrics, self.clock = store, health, metrics, clock
        self._fail_open = store_config.on_error == "fail_open"
        self._pending: deque[_Record] = deque(maxlen=store_config.max_pending_records)
        self._releasing: set[asyncio.Task[None]] = set()
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
        if self.policy.slot_weight <= 0:  # race-free admission off: one read, no slot
            return await self._admit_by_standing(principal.key_hash)
        now_ms, ticket = self._now_ms(), Ticket(principal.key_hash, secrets.token_hex(8))
        try:
            async with self.health.timed("admission"):
                reservation = await self.store.reserve(ticket.principal, ticket.id,
                                                       self.policy, now_ms)
        except StoreError:
            return self._store_down()
        except asyncio.CancelledError:  # client gone; the script may still take the slot
            self._release_later(ticket)
            raise
        return self._admission(reservation, ticket, now_ms)

    async def _admit_by_standing(self, principal: str) -> Admission:
        now_ms = self._now_ms()
        try:
            async with self.health.timed("admission"):
                standing = await self.store.standing(principal, now_ms)
        except StoreError:
            return self._store_down()
        return self._admission(Reservation(standing, False, 0, 0.0), None, now_ms)

    def _release_later(self, ticket: Ticket) -> None:
        """Frees a slot whose admission was abandoned mid-way: the release is queued behind
        the reservation (same pipeline), so it frees the slot if the script took it."""
        task = asyncio.get_running_loop().create_task(self.release(ticket))
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)

    def _store_down(self) -> Admission:
        return ADMIT if self._fail_open else Admission("unavailable", 1)

    def _admission(self, reservation: Reservation, ticket: Ticket | None,
                   now_ms: int) -> Admission:
        standing = reservation.standing
        if standing.banned_until_ms:
            self.metrics.banned_requests.inc()
            return Admission("banned", _seconds_until(standing.banned_until_ms, now_ms))
        if standing.throttled_until_ms:
            self.metrics.throttles.inc()
            return Admission("throttled", _seconds_until(standing.throttled_until_ms, now_ms))
        if reservation.reserved:
            return Admission(ticket=ticket)
        if self.policy.slot_weight > 0:  # every slot the threshold leaves is taken
            self.metrics.throttles.inc()
            return Admission("throttled", 1)
        return ADMIT

    async def release(self, ticket: Ticket) -> None:
        """Frees the slot of a request that ends with no record. Never raises: a slot that
        cannot be freed now (store down) waits with the pending records (a strike-less
        record that frees it), and expires after abuse.in_flight_ttl_s anyway."""
        if self.health.up:
            try:
                async with self.health.timed("record"):  # the request's after-step
                    await self.store.release(ticket.principal, ticket.id)
                return
            except StoreError:
                pass
        else:
            self.health.skipped("record")
        self._pending.append(_Record(None, "allow", 0.0, None, self._now_ms(), ticket))

    async def record(self, outcome: Outcome, ticket: Ticket | None = None) -> None:
        record = self._record_of(outcome, ticket)
        if record is None:
            if ticket is not None:
                await self.release(ticket)
            return
        if not self.health.up:
            self.health.skipped("record")
            self._pending.append(record)
            return
        if not await self._write(record):
            self._pending.append(record)

    def _record_of(self, outcome: Outcome, ticket: Ticket | None) -> _Record | None:
        action = outcome.decision.action
        if action == "allow":
            return None
        now_ms = self._now_ms()
        weight = strike_weight(outcome, self.abuse.weights) if self.abuse.enabled else 0.0
        event = event_fields(outcome, self.events, now_ms) if self.events.enabled else None
        if event is None and (weight <= 0 or outcome.principal.key_hash is None):
            return None
        return _Record(outcome.principal.key_hash, action, weight, event, now_ms, ticket)

    async def _write(self, record: _Record) -> bool:
        try:
            async with self.health.timed("record"):
                result = await self.store.record(
                    record.principal, record.weight, record.event, self.policy,
                    self.events.max_len, record.now_ms, record.ticket)
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


def strike_weight(outcome: Outcome, weights: StrikeWeights) -> float:
    """The heaviest of the outcome's reasons (a request is one strike, however many checks
    it tripped); a check's own weights first, then a redaction's, the model's refusal's,
    and the action's."""
    return max((_reason_weight(direction, reason, outcome.refusal_label, weights)
                for direction, decision in outcome.directions.items()
                for reason in decision.reasons), default=0.0)


def _reason_weight(direction: str, reason: Reason, refusal_label: str | None,
                   weights: StrikeWeights) -> float:
    own = weights.checks.get(reason.classifier, {})
    if reason.action in own:
        return own[reason.action]
    if reason.action == "redact":
        return weights.redact
    if direction == "output" and f"{reason.classifier}.{reason.label}" == refusal_label:
        return weights.refusal
    return weights.block if reason.action == "block" else weights.flag


def _seconds_until(until_ms: int, now_ms: int) -> int:
    return max(1, math.ceil((until_ms - now_ms) / 1000))
