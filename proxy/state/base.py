"""The store interface: every piece of shared state goes through these operations.

Two implementations pass one contract suite (tests/proxy/state/test_store_contract.py): the
in-process memory store and the Redis store (on one Redis or a Redis Cluster: the suite runs
on all three). "Atomically" below means: for one principal, always (one script on the
principal's slot); what a Redis Cluster splits across slots is said where it applies.
Time is always passed in (``now_ms``, epoch milliseconds) so both behave alike and tests
can drive a clock. Principals are keyed hashes (hex), never raw identifiers. Any failure
to reach the store raises StoreError.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from proxy.state.ports import Ticket

EscalationStep = Literal["", "throttle", "ban"]


class StoreError(Exception):
    """The store could not be reached or answered badly; the message holds no secrets."""


@dataclass(frozen=True, slots=True)
class Escalation:
    """When strikes in the window turn into a throttle or a ban, in store units."""

    window_ms: int
    throttle_at: float
    throttle_ms: int
    ban_at: float
    ban_ms: int
    max_strikes: int
    # Admission: each in-flight request counts as this many strikes (0: no slots are taken)
    # and a slot not released expires after slot_ttl_ms (a crashed replica's requests).
    slot_weight: float = 0.0
    slot_ttl_ms: int = 300_000


@dataclass(frozen=True, slots=True)
class Standing:
    """What admission needs: until when (epoch ms) the principal is banned or throttled."""

    banned_until_ms: int = 0
    throttled_until_ms: int = 0


@dataclass(frozen=True, slots=True)
class Reservation:
    """What ``reserve`` saw and did, in one atomic step."""

    standing: Standing
    reserved: bool  # the slot is held now: release it once (record or release)
    in_flight: int  # the principal's live slots after this step (this one included if held)
    strikes: float  # weighted strikes in the window


@dataclass(frozen=True, slots=True)
class RecordResult:
    strikes: float  # weighted strikes in the window after this one
    escalation: EscalationStep  # what this strike set off, if anything


@dataclass(frozen=True, slots=True)
class Charge:
    """What ``charge`` saw and did, in one atomic step, for the principals in the order
    given."""

    admitted: bool  # no principal was banned or throttled, so every strike was added
    standings: tuple[Standing, ...]  # each principal's, read before any strike
    results: tuple[RecordResult, ...]  # each principal's strikes and escalation; () if refused


@dataclass(frozen=True, slots=True)
class PrincipalState:
    principal: str
    strikes: float
    strike_count: int
    banned_until_ms: int
    throttled_until_ms: int


@dataclass(frozen=True, slots=True)
class Ban:
    principal: str
    until_ms: int


@dataclass(frozen=True, slots=True)
class Event:
    """One review-stream entry; ``id`` is "<ms>-<seq>" and orders events."""

    id: str
    fields: Mapping[str, str]


class Store(Protocol):
    kind: str  # "memory" or "redis"

    async def standing(self, principal: str, now_ms: int) -> Standing: ...

    def standing_in_process(self, principal: str, now_ms: int) -> Standing | None:
        """The standing at once where this process holds it (no round trip: nothing to
        wait for, time or lose); None where it must be asked for (``standing``)."""

    async def reserve(self, principal: str, slot: str, policy: Escalation,
                      now_ms: int) -> Reservation:
        """Atomically (one script / one synchronous step): read the standing and, unless the
        principal is banned or throttled, take the in-flight slot ``slot`` if

            no slot is live, or
            strikes in the window + live slots * policy.slot_weight < policy.throttle_at

        (live slots: those taken before, not released, not past their slot_ttl_ms; the first
        clause lets one request at a time through after a throttle ends, as sequential
        requests would be: each re-throttles when its strike lands). With
        ``slot_weight`` 0 no slot is taken and only the standing is read. A slot expires
        ``slot_ttl_ms`` after it was taken.
        """
        ...

    async def release(self, principal: str, slot: str) -> None:
        """Frees a slot; idempotent (an unknown or expired slot is a no-op)."""
        ...

    async def in_flight(self, principal: str, now_ms: int) -> int:
        """The principal's live slots."""
        ...

    async def record(self, principal: str | None, weight: float, event: Mapping[str, str] | None,
                     policy: Escalation, max_events: int, now_ms: int,
                     release: Ticket | None = None) -> RecordResult:
        """Atomically: add a weighted strike, trim the window, escalate, and free the
        principal's own slot ``release`` (so the strike is in place when the slot goes).
        Then append the event, index a ban, and free a slot of another principal: on Redis
        a second round trip (another slot), which once the strike landed never fails the
        record (what fails waits in the store's backlog: a replay would strike twice).

        ``principal`` None or ``weight`` 0 adds no strike; ``event`` None appends none.
        The event gets the ``strikes`` and ``escalation`` of this strike; a record that adds
        none keeps those the event carries (a strike ``charge`` added before the answer),
        else "0" and "". An event carries them only on a strike-less record.
        """
        ...

    async def charge(self, principals: Sequence[tuple[str, Escalation]], weight: float,
                     now_ms: int) -> Charge:
        """Atomically (one script / one synchronous step) for every (principal, its policy):
        read the standing; if any principal is banned or throttled now, add no strike to
        anyone and answer not admitted (the standings say until when); else add the
        weighted strike ``weight`` to each exactly as ``record`` does (window trim,
        max_strikes, escalation, the bans index) and answer admitted with each result.

        The input strike of a request about to be forwarded: sequential semantics however
        many run at once (with throttle_at 6 and weight 1, charges 1..6 pass and the 6th
        throttles; the others see the throttle and add nothing). ``weight`` > 0.

        On a Redis Cluster, principals in different slots are charged one slot after the
        other, the last listed first (list the broadest principal first: the key, then the
        end user it names); a slot that refuses stops the charge and the strikes added
        before it are taken back, so a refused charge still adds nothing. Only a race can
        leave behind a throttle or ban that such a taken-back strike set (never looser).
        """
        ...

    async def get_verdicts(self, keys: Sequence[str], now_ms: int) -> list[str | None]: ...

    async def put_verdicts(self, items: Mapping[str, str], ttl_ms: int, now_ms: int) -> None: ...

    async def bans(self, now_ms: int, limit: int) -> list[Ban]: ...

    async def banned_count(self, now_ms: int) -> int: ...

    async def principal(self, principal: str, window_ms: int, now_ms: int) -> PrincipalState: ...

    async def unban(self, principal: str) -> bool:
        """Lifts a ban and a throttle and forgets the strikes; True if a ban was lifted."""
        ...

    async def events(self, after: str | None, count: int) -> list[Event]:
        """Oldest first, strictly after the id ``after`` (None: from the oldest kept)."""
        ...

    async def recent_events(self, count: int) -> list[Event]:
        """The newest ``count`` events, oldest first."""
        ...

    async def client_keys(self) -> dict[str, str]:
        """Every client key kept in the store (auth.mode: keys): key hash -> its record
        (JSON of proxy.config.auth.ClientKey). Records hold hashes, never keys."""
        ...

    async def client_key(self, key_hash: str) -> str | None:
        """One client key's record, or None."""
        ...

    async def put_client_key(self, key_hash: str, record: str) -> None: ...

    async def delete_client_key(self, key_hash: str) -> bool:
        """Revokes a client key; True if it was there."""
        ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


def strike_total(weights: Sequence[float]) -> float:
    return round(sum(weights), 6)


def strike_text(total: float) -> str:
    """A strike total as an event field: as Lua's tostring writes it, so events read the
    same from both stores."""
    return str(int(total)) if total == int(total) else repr(total)
