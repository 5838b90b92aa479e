"""The AbuseGate over a store: admission before the checks, the input's strike charged
before forwarding, strikes and events after.

Hot path: ``admit`` is one read (or, with slots on, one script: ban and throttle read and
an in-flight slot taken in one atomic step); ``charge`` is one script and runs only for a
flagged input; ``record`` is one script per principal struck (strike, window trim,
escalation, its slot freed), then one round trip for the review event and a new ban's
index entry (the store's own follow-up, off the request path), and runs only for flags
and blocks; ``release`` frees the slot of any other request (one ZREM).

Race-free admission, by default: the input decision is known before the request goes
upstream, so a flagged (forwarded) input is charged its strike then, in the same atomic
step that reads the ban and the throttle (``charge``): a principal throttled or banned by
now is refused with nothing added. However many flagged prompts a principal sends at once,
no more are served past a threshold than one after another (throttle_at 6, a flag
weighing 1: exactly 6). The final ``record`` adds only the weight not charged yet (an
answer flagged or blocked beyond its prompt). Clean requests are never capped. Blocked
inputs are not charged: they are never served, and their strike lands with their record.
``safety_proxy_strikes_total`` counts each strike where it is added (the charge, or the
record's remainder), so never twice.

Opt-in in-flight slots (``abuse.in_flight_weight`` > 0) guard what the charge cannot see:
an answer flagged on output alone strikes only after it was served. Admission then counts
each request still in flight as ``slot_weight`` strikes. A principal is admitted while
strikes + in-flight * slot_weight < throttle_at (or nothing is in flight: after a throttle
ends, one request at a time, each re-throttling when it strikes), so at most
max(1, ceil((throttle_at - strikes) / slot_weight)) run at a time, clean ones included. A
request refused for a full set of slots gets the throttle answer with Retry-After 1 (the
requests in flight end soon). A charged request counts both its strike and its slot until
it ends (stricter, never looser).

Contract: no method raises for a store fault. While the store is down, ``admit`` and
``charge`` follow ``store.on_error`` (fail_open: admit, nothing charged, so the record adds
the full weight later; fail_closed: the "unavailable" admission, a 503 for the handler)
and ``record`` keeps the record (a bounded queue, oldest dropped
first) to write it, with its original time, once the store is back.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import secrets
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from classifiers.tasks import spawn
from proxy.config.state_settings import AbuseConfig, EventsConfig, StoreConfig, StrikeWeights
from proxy.observability.metrics import Metrics
from proxy.state.base import (
    Charge,
    Escalation,
    Reservation,
    Standing,
    Store,
    StoreError,
    strike_text,
)
from proxy.state.events import event_fields
from proxy.state.health import StoreHealth
from proxy.state.ports import (
    ADMIT,
    Admission,
    Charged,
    InputCharge,
    Outcome,
    Principal,
    Ticket,
)
from proxy.verdict import Decision, Reason


@dataclass(frozen=True, slots=True)
class _Record:
    principal: str | None
    decision: str
    weight: float
    event: dict[str, str] | None
    now_ms: int
    ticket: Ticket | None = None
    application: bool = False  # escalated at the abuse.application thresholds


def escalation(abuse: AbuseConfig, application: bool = False) -> Escalation:
    """The store's escalation rules for a principal; ``application``: a key trusted to name
    its end users, with its own thresholds."""
    throttle_at, ban_at = abuse.throttle_at, abuse.ban_at
    if application:
        throttle_at, ban_at = abuse.application.throttle_at, abuse.application.ban_at
    return Escalation(int(abuse.window_s * 1000), throttle_at, int(abuse.throttle_s * 1000),
                      ban_at, int(abuse.ban_s * 1000), abuse.max_strikes,
                      abuse.slot_weight, int(abuse.in_flight_ttl_s * 1000))


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
        self.abuse, self.events = abuse, events
        self._policies = (escalation(abuse), escalation(abuse, application=True))

    @property
    def policy(self) -> Escalation:
        """The escalation of a principal that is not an application key."""
        return self._policies[0]

    @property
    def takes_slots(self) -> bool:
        return self.abuse.enabled and self.policy.slot_weight > 0

    def _policy(self, application: bool) -> Escalation:
        return self._policies[1] if application else self._policies[0]

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
                                                       self._policy(principal.application),
                                                       now_ms)
        except StoreError:
            return self._store_down()
        except asyncio.CancelledError:  # client gone; the script may still take the slot
            self._release_later(ticket)
            raise
        return self._admission(reservation, ticket, now_ms)

    async def _admit_by_standing(self, principal: str) -> Admission:
        now_ms = self._now_ms()
        standing = self.store.standing_in_process(principal, now_ms)  # no round trip to time
        if standing is None:
            try:
                async with self.health.timed("admission"):
                    standing = await self.store.standing(principal, now_ms)
            except StoreError:
                return self._store_down()
        if not standing.banned_until_ms and not standing.throttled_until_ms:
            return ADMIT  # the common answer, without a reservation to read it from
        return self._admission(Reservation(standing, False, 0, 0.0), None, now_ms)

    def _release_later(self, ticket: Ticket) -> None:
        """Frees a slot whose admission was abandoned mid-way: the release is queued behind
        the reservation (same pipeline), so it frees the slot if the script took it."""
        spawn(self.release(ticket), name="release-abandoned-slot")

    def _store_down(self) -> Admission:
        return ADMIT if self._fail_open else Admission("unavailable", 1)

    def _admission(self, reservation: Reservation, ticket: Ticket | None,
                   now_ms: int) -> Admission:
        refused = self._refusal((reservation.standing,), now_ms)
        if refused is not None:
            return refused
        if reservation.reserved:
            return Admission(ticket=ticket)
        if self.policy.slot_weight > 0:  # every slot the threshold leaves is taken
            self.metrics.throttles.inc()
            return Admission("throttled", 1)
        return ADMIT

    def _refusal(self, standings: Sequence[Standing], now_ms: int) -> Admission | None:
        """The answer to principals of which one is banned (first) or throttled, counted;
        None when none is."""
        banned = max((standing.banned_until_ms for standing in standings), default=0)
        if banned:
            self.metrics.banned_requests.inc()
            return Admission("banned", _seconds_until(banned, now_ms))
        throttled = max((standing.throttled_until_ms for standing in standings), default=0)
        if throttled:
            self.metrics.throttles.inc()
            return Admission("throttled", _seconds_until(throttled, now_ms))
        return None

    def input_weight(self, decision: Decision) -> float:
        """The strike an input decision charges: its heaviest reason (0 when abuse control
        is off or nothing weighs: a redaction by default)."""
        if not self.abuse.enabled:
            return 0.0
        return max((_reason_weight("input", reason, None, self.abuse.weights)
                    for reason in decision.reasons), default=0.0)

    async def charge(self, principals: Sequence[Principal], weight: float) -> InputCharge:
        """See AbuseGate.charge: one store step for every principal with a key hash."""
        struck = [principal for principal in principals if principal.key_hash is not None]
        if not self.abuse.enabled or weight <= 0 or not struck:
            return InputCharge()
        if not self.health.up:
            self.health.skipped("admission")
            return InputCharge(self._store_down())
        now_ms = self._now_ms()
        targets = [(p.key_hash or "", self._policy(p.application)) for p in struck]
        try:
            async with self.health.timed("admission"):
                charge = await self.store.charge(targets, weight, now_ms)
        except StoreError:
            return InputCharge(self._store_down())
        return self._input_charge(charge, [hash_ for hash_, _ in targets], weight, now_ms)

    def _input_charge(self, charge: Charge, principals: list[str], weight: float,
                      now_ms: int) -> InputCharge:
        if not charge.admitted:  # a standing refused it: nothing was added
            return InputCharge(self._refusal(charge.standings, now_ms)
                               or Admission("throttled", 1))
        charged = {}
        for principal, result in zip(principals, charge.results, strict=True):
            self.metrics.strikes.labels("flag").inc()  # counted here, never by the record
            if result.escalation == "ban":
                self.metrics.bans.inc()
            charged[principal] = Charged(weight, result.strikes, result.escalation)
        return InputCharge(ADMIT, charged)

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

    async def record(self, outcome: Outcome, *tickets: Ticket) -> None:
        """Strikes each principal of the outcome (the key, and the end user it named) and
        writes the review event once; each ticket is freed in the step that strikes its
        principal, or released when nothing strikes it."""
        held = {ticket.principal: ticket for ticket in tickets}
        for record in self._records_of(outcome, held):
            if not self.health.up:
                self.health.skipped("record")
                self._pending.append(record)
            elif not await self._write(record):
                self._pending.append(record)
        for ticket in held.values():
            await self.release(ticket)

    def _records_of(self, outcome: Outcome, held: dict[str, Ticket]) -> list[_Record]:
        """The writes an outcome makes: one per principal still owed a strike (the
        request's weight less what was charged before forwarding), the event on the first
        (a strike-less write when no one is owed one: the event then tells the charge's
        strikes and escalation). Takes the tickets it frees from ``held``."""
        action = outcome.decision.action
        if action == "allow":
            return []
        now_ms = self._now_ms()
        weight = strike_weight(outcome, self.abuse.weights) if self.abuse.enabled else 0.0
        event = event_fields(outcome, self.events, now_ms) if self.events.enabled else None
        records = [_Record(key, action, owed, None, now_ms, held.pop(key, None), application)
                   for key, owed, application in _owed_strikes(outcome, weight)]
        if event is not None and records:
            records[0] = dataclasses.replace(records[0], event=event)
        elif event is not None:
            records.append(_Record(None, action, 0.0, _with_charge(event, outcome), now_ms))
        return records

    async def _write(self, record: _Record) -> bool:
        try:
            async with self.health.timed("record"):
                result = await self.store.record(
                    record.principal, record.weight, record.event,
                    self._policy(record.application),
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


def _owed_strikes(outcome: Outcome, weight: float) -> list[tuple[str, float, bool]]:
    """(principal hash, the strike it is still owed, application) for each principal the
    outcome strikes: the request's ``weight`` beyond the input strike charged to it."""
    owed = []
    for principal in outcome.principals():
        if principal.key_hash is None:
            continue
        charged = outcome.charged.get(principal.key_hash)
        rest = weight if charged is None else round(weight - charged.weight, 6)
        if rest > 0:
            owed.append((principal.key_hash, rest, principal.application))
    return owed


def _with_charge(event: dict[str, str], outcome: Outcome) -> dict[str, str]:
    """A strike-less event of a charged request tells the charge's strikes and escalation
    (of the first principal charged: the key, else the end user)."""
    charges = [outcome.charged[p.key_hash] for p in outcome.principals()
               if p.key_hash is not None and p.key_hash in outcome.charged]
    if not charges:
        return event
    return {**event, "strikes": strike_text(charges[0].strikes),
            "escalation": charges[0].escalation}


def _seconds_until(until_ms: int, now_ms: int) -> int:
    return max(1, math.ceil((until_ms - now_ms) / 1000))
