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
class Admission:
    state: Literal["ok", "throttled", "banned", "unavailable"] = "ok"  # unavailable: store down
    retry_after_s: int = 0  # seconds until the throttle or ban ends


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


class AbuseGate(Protocol):
    async def admit(self, principal: Principal) -> Admission:
        """Before any classifier runs. Must not raise: a store failure follows store.on_error."""
        ...

    async def record(self, outcome: Outcome) -> None:
        """After the decision: strikes, escalation, review event. Must not raise."""
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

    async def record(self, outcome: Outcome) -> None:
        return None


class NoVerdictCache:
    async def get_many(self, check: str, version: str, texts: Sequence[str]) -> list[Scores | None]:
        return [None] * len(texts)

    async def put_many(
        self, check: str, version: str, texts: Sequence[str], scores: Sequence[Scores]
    ) -> None:
        return None
