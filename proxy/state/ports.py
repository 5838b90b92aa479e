"""Ports the pipeline calls and the state layer implements (abuse gate, verdict cache),
with the values that cross them (principals, admissions, charges, outcomes).

The proxy always runs on a store (the in-process memory store by default): the config's
``store`` section chooses it, create_app hangs the implementations off the app
(proxy/resources.py). ``NoVerdictCache`` answers "not cached" to everything: the verdict
cache when ``cache.enabled`` is false, and offline scoring (``score``, ``tune``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from classifiers.base import Scores
from proxy.verdict import Decision

PrincipalSource = Literal["api_key", "user", "anonymous"]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is struck for a request: ``key_hash`` is a keyed hash (never the raw key or user
    id). ``application``: a key trusted to name its end users, escalated at the
    abuse.application thresholds."""

    key_hash: str | None
    source: PrincipalSource = "anonymous"
    application: bool = False


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
class Charged:
    """An input strike charged to one principal before its request went upstream."""

    weight: float
    strikes: float  # the principal's weighted strikes in the window right after it
    escalation: str = ""  # what it set off: "" | "throttle" | "ban"


@dataclass(frozen=True, slots=True)
class InputCharge:
    """What ``AbuseGate.charge`` did: ``admission`` "ok" (forward the request) or why it is
    refused (then nothing was charged); ``charged``: principal hash -> its charge."""

    admission: Admission = ADMIT
    charged: Mapping[str, Charged] = field(default_factory=dict)


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
    # The end user the request named (a trusted caller only): struck beside the principal.
    user: Principal | None = None
    key_id: str | None = None  # the client key's public id (auth.mode: keys)
    # Principal hash -> the input strike charged before forwarding: the record adds only
    # what the request weighs beyond it (the output's heavier reason), if anything.
    charged: Mapping[str, Charged] = field(default_factory=dict)

    def principals(self) -> tuple[Principal, ...]:
        """Everyone the outcome strikes: the key, then the end user it named."""
        return (self.principal,) if self.user is None else (self.principal, self.user)


class AbuseGate(Protocol):
    @property
    def takes_slots(self) -> bool:
        """True when ``admit`` takes in-flight slots (abuse.in_flight_weight > 0); False
        when it only reads the principal's standing."""
        ...

    async def admit(self, principal: Principal) -> Admission:
        """Before any classifier runs. Must not raise: a store failure follows store.on_error.

        An admission with a ``ticket`` holds an in-flight slot, taken in the same atomic
        step as the ban/throttle read: the request's lifecycle must hand it back exactly
        once, through ``record`` (a flag or block) or ``release`` (anything else: allowed,
        failed, client gone). A slot never handed back expires (abuse.in_flight_ttl_s)."""
        ...

    def input_weight(self, decision: Decision) -> float:
        """What an input decision weighs against its principals (0: no strike, or abuse
        control off)."""
        ...

    async def charge(self, principals: Sequence[Principal], weight: float) -> InputCharge:
        """After the input checks, before forwarding a request whose input strikes: one
        atomic step refuses it if any principal (with a key hash) is banned or throttled
        now, adding nothing, and else adds the strike ``weight`` to each (escalating as
        ``record`` does). So however many arrive at once, a principal gets no more served
        past a threshold than one after another. Must not raise: a store failure follows
        store.on_error (fail_open: admitted, nothing charged; fail_closed: unavailable).
        A cancelled charge may still land (the script is queued): count it charged."""
        ...

    async def record(self, outcome: Outcome, *tickets: Ticket) -> None:
        """After the decision: strikes (each principal of the outcome), escalation, review
        event, and each ticket's slot freed in the step that strikes its principal (the
        strike is counted before the slot stops counting). Must not raise."""
        ...

    async def release(self, ticket: Ticket) -> None:
        """Frees the slot of a request that ends without a record. Must not raise."""
        ...


class VerdictCache(Protocol):
    """Scores by (check, classifier version, text). ``texts`` are what a check keys on
    (checks.py's cache keys). Never raises."""

    def local(self, check: str, version: str, texts: Sequence[str]) -> list[Scores | None]:
        """This process's copies only: no I/O, no wait."""
        ...

    async def get_many(self, check: str, version: str, texts: Sequence[str]) -> list[Scores | None]:
        """This process's copies, then the shared store (if any) for the texts missed."""
        ...

    def put_many(self, check: str, version: str, texts: Sequence[str],
                 scores: Sequence[Scores], *, shared: bool = True) -> None:
        """Kept in this process (an in-process verdict, not ``shared``: from its text's
        second miss), and when ``shared`` written to the shared store (if any) in the
        background, off the caller's path."""
        ...

    def scored_here(self, check: str, version: str, texts: Sequence[str],
                    score: Callable[[list[int]], Sequence[Scores]]) -> tuple[list[Scores], int]:
        """``local``, then ``score`` (the positions of the texts missed: their scores, in
        order) for the rest, kept here as ``put_many(shared=False)``; with the hits. No
        I/O, no wait. ``score``'s exceptions propagate, nothing of them kept."""
        ...


class NoVerdictCache:
    def local(self, check: str, version: str, texts: Sequence[str]) -> list[Scores | None]:
        return [None] * len(texts)

    async def get_many(self, check: str, version: str, texts: Sequence[str]) -> list[Scores | None]:
        return [None] * len(texts)

    def put_many(self, check: str, version: str, texts: Sequence[str],
                 scores: Sequence[Scores], *, shared: bool = True) -> None:
        return None

    def scored_here(self, check: str, version: str, texts: Sequence[str],
                    score: Callable[[list[int]], Sequence[Scores]]) -> tuple[list[Scores], int]:
        return list(score(list(range(len(texts))))) if texts else [], 0
