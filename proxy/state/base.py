"""The store interface: every piece of shared state goes through these operations.

Two implementations pass one contract suite (tests/state/test_store_contract.py): the
in-process memory store and the Redis store. Time is always passed in (``now_ms``, epoch
milliseconds) so both behave alike and tests can drive a clock. Principals are keyed
hashes (hex), never raw identifiers. Any failure to reach the store raises StoreError.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

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


@dataclass(frozen=True, slots=True)
class Standing:
    """What admission needs: until when (epoch ms) the principal is banned or throttled."""

    banned_until_ms: int = 0
    throttled_until_ms: int = 0


@dataclass(frozen=True, slots=True)
class RecordResult:
    strikes: float  # weighted strikes in the window after this one
    escalation: EscalationStep  # what this strike set off, if anything


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

    async def record(self, principal: str | None, weight: float, event: Mapping[str, str] | None,
                     policy: Escalation, max_events: int, now_ms: int) -> RecordResult:
        """Atomically: add a weighted strike, trim the window, escalate, append the event.

        ``principal`` None or ``weight`` 0 adds no strike; ``event`` None appends none.
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

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


def strike_total(weights: Sequence[float]) -> float:
    return round(sum(weights), 6)
