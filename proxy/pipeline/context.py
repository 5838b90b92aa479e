"""The per-request state the steps share: one object, created by the route handler."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from classifiers.base import ClassifyContext
from proxy.config.snapshot import Snapshot
from proxy.observability.metrics import Metrics
from proxy.pipeline.decision import ALLOW, Decision, combine
from proxy.pipeline.moderation import Moderation
from proxy.pipeline.ports import NoVerdictCache, Principal, VerdictCache
from proxy.protocol.chat import ChatRequest


@dataclass(slots=True)
class RequestContext:
    request_id: str
    route: str
    snapshot: Snapshot
    metrics: Metrics
    cache: VerdictCache = field(default_factory=NoVerdictCache)
    principal: Principal = field(default_factory=lambda: Principal(None))
    chat: ChatRequest | None = None
    tenant: str | None = None
    started: float = field(default_factory=time.perf_counter)
    upstream_seconds: float = 0.0
    upstream_status: int | None = None
    moderations: dict[str, Moderation] = field(default_factory=dict)
    error_kind: str | None = None
    stream_cut: bool = False
    redacted_spans: int = 0

    @property
    def decision(self) -> Decision:
        if not self.moderations:
            return ALLOW
        return combine(*(m.decision for m in self.moderations.values()))

    def classify_context(self, direction: str) -> ClassifyContext:
        chat = self.chat
        return ClassifyContext(
            direction=direction,  # type: ignore[arg-type]
            prompt=chat.last_user_text() if chat else None,
            conversation=chat.conversation() if chat else (),
        )

    def elapsed(self) -> float:
        return time.perf_counter() - self.started
