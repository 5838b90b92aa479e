"""Ports the pipeline calls and the state layer implements (abuse gate, verdict cache).

The defaults here do nothing, so the proxy runs without a store. Implementations hang off
the app (``web.AppKey``) and are chosen by the config's ``store`` section.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from classifiers.base import Scores
from proxy.pipeline.decision import Decision


@dataclass(frozen=True, slots=True)
class Principal:
    """Who sent a request: ``key_hash`` is a keyed hash (never the raw key or user id)."""

    key_hash: str | None
    source: Literal["api_key", "user", "header", "anonymous"] = "anonymous"


@dataclass(frozen=True, slots=True)
class Ticket:
    """An in-flight slot an admitted request holds (``principal``: its keyed hash, ``id``: a
    nonce) until the gate's ``record`` or ``release`` hands it back, exactly once."""

    principal: str
    id: str


@dataclass(frozen=True, slots=True)
class Admission:
    state: Literal["ok", "throttled", "banned", "unavailable"] = "ok"  # unavailable: store down
    retry_after_s: int = 0  # seconds until the throttle or ban ends
    # The slot held when admitted (None: nothing to hand back); not part of the verdict, so
    # an admission still equals ADMIT.
    ticket: Ticket | None = field(default=None, compare=False)


ADMIT = Admission()


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one request, handed to the abuse gate after the decision."""

    request_id: str
    principal: Principal
    tenant: str | None
    model: str | None
    decision: Decision  # the request's combined decision
    directions: Mapping[str, Decision]  # "input" / "output" -> decision
    scores: Mapping[str, Mapping[str, float]]  # "direction.check" -> label -> max score
    texts: Mapping[str, Sequence[str]] = field(default_factory=dict)  # direction -> texts
    # The policy's "check.label" of the model's own refusals: what the model did, not the
    # principal, so it strikes no one unless the strike weights say so.
    refusal_label: str | None = None


class AbuseGate(Protocol):
    async def admit(self, principal: Principal) -> Admission:
        """Before any classifier runs. Must not raise: a store failure follows store.on_error.

        An admission with a ``ticket`` holds an in-flight slot, taken in the same atomic
        step as the ban/throttle read: the request's lifecycle must hand it back exactly
        once, through ``record`` (a flag or block) or ``release`` (anything else: allowed,
        failed, client gone). A slot never handed back expires (abuse.in_flight_ttl_s)."""
        ...

    async def record(self, outcome: Outcome, ticket: Ticket | None = None) -> None:
        """After the decision: strikes, escalation, review event, and the ticket's slot
        freed in the same step (the strike is counted before the slot stops counting).
        Must not raise."""
        ...

    async def release(self, ticket: Ticket) -> None:
        """Frees the slot of a request that ends without a record. Must not raise."""
        ...


class VerdictCache(Protocol):
    async def get_many(self, check: str, version: str, texts: Sequence[str]) -> list[Scores | None]:
        ...

    async def put_many(
        self, check: str, version: str, texts: Sequence[str], scores: Sequence[Scores]
    ) -> None:
        ...


class NoAbuseGate:
    async def admit(self, principal: Principal) -> Admission:
        return ADMIT

    async def record(self, outcome: Outcome, ticket: Ticket | None = None) -> None:
        return None

    async def release(self, ticket: Ticket) -> None:
        return None


class NoVerdictCache:
    async def get_many(self, check: str, version: str, texts: Sequence[str]) -> list[Scores | None]:
        return [None] * len(texts)

    async def put_many(
        self, check: str, version: str, texts: Sequence[str], scores: Sequence[Scores]
    ) -> None:
        return None
