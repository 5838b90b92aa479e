"""The per-request state the steps share: one object, created by the route handler."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from classifiers.base import ClassifyContext
from proxy.config.snapshot import Snapshot
from proxy.observability.metrics import Metrics
from proxy.pipeline.decision import combine
from proxy.pipeline.moderation import Moderation
from proxy.protocol.chat import DIALECT as CHAT
from proxy.protocol.dialect import Dialect, ParsedRequest
from proxy.protocol.stored import StoredAnswer
from proxy.state.ports import Charged, NoVerdictCache, Principal, VerdictCache
from proxy.verdict import ALLOW, Decision

_REFUSALS = frozenset({"principal_throttled", "principal_banned", "unauthenticated"})


@dataclass(slots=True)
class RequestContext:
    request_id: str
    route: str
    snapshot: Snapshot
    metrics: Metrics
    cache: VerdictCache = field(default_factory=NoVerdictCache)
    principal: Principal = field(default_factory=lambda: Principal(None))
    user: Principal | None = None  # the end user a trusted caller named
    key_id: str | None = None  # the client key's public id (auth.mode: keys)
    dialect: Dialect = CHAT
    parsed: ParsedRequest | None = None  # the request as its dialect read it
    tenant: str | None = None
    started: float = field(default_factory=time.perf_counter)
    upstream_seconds: float = 0.0
    upstream_status: int | None = None
    moderations: dict[str, Moderation] = field(default_factory=dict)
    error_kind: str | None = None
    stream_cut: bool = False
    stored: StoredAnswer | None = None  # what the upstream kept of a blocked answer
    redacted_spans: int = 0
    # Forwarded without checks (an allow-listed route, unknown content forwarded by opt-in):
    # recorded and answered as "unchecked", never as "allow".
    unchecked: bool = False
    # False: a flag or block still reaches the review stream but strikes no principal (the
    # moderation endpoint: a classifier service a gateway asks, not a generation).
    strikes: bool = True
    # Principal hash -> the input strike charged before forwarding (routes.common
    # ``charge_input``); the record adds only what is owed beyond it.
    charged: dict[str, Charged] = field(default_factory=dict)

    @property
    def decision(self) -> Decision:
        if not self.moderations:
            return ALLOW
        return combine(*(m.decision for m in self.moderations.values()))

    @property
    def outcome_label(self) -> str:
        """The decision as headers, metrics and logs show it: "refused" for a caller without
        a valid key or a principal the abuse gate throttled or banned; an allow is "unchecked" when
        something went through without its checks (a forwarded route or unknown content,
        or a check that failed open: allowed, but not checked)."""
        if self.error_kind in _REFUSALS:  # the abuse gate said no before any check ran
            return "refused"
        action = self.decision.action
        return "unchecked" if action == "allow" and (
            self.unchecked or self.failed_open) else action

    @property
    def checks_run(self) -> list[str]:
        """The names of the checks that ran on the request (scored or failed), sorted."""
        return sorted({name for m in self.moderations.values()
                       for name in (*m.run.scores, *(f.classifier for f in m.run.failures))})

    @property
    def blocked_directions(self) -> list[str]:
        return [direction for direction, m in self.moderations.items() if m.decision.blocked]

    @property
    def failed_open(self) -> bool:
        return any(failure.on_error == "fail_open" for moderation in self.moderations.values()
                   for failure in moderation.run.failures)

    def classify_context(self, direction: str) -> ClassifyContext:
        """What the direction's checks may read besides the texts: the prompt and the
        conversation when one of them reads them (``Classifier.reads_context``, which also
        keys its cached verdicts on them), else the direction alone (nothing is copied out
        of a long conversation twice a request for checks that never look)."""
        parsed = self.parsed
        checks = self.snapshot.checks_for(direction)  # type: ignore[arg-type]
        if parsed is None or not any(check.classifier.reads_context for check in checks):
            return _BARE[direction]
        return ClassifyContext(
            direction=direction,  # type: ignore[arg-type]
            prompt=parsed.last_user_text(),
            conversation=parsed.conversation(),
        )

    def elapsed(self) -> float:
        return time.perf_counter() - self.started


# A direction alone: the context of checks that read no more (immutable, so shared).
_BARE: dict[str, ClassifyContext] = {direction: ClassifyContext(direction)
                                     for direction in ("input", "output")}
