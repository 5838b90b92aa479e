"""The last step of every request: metrics, one log line, the abuse gate's outcome.

Contract: recording never raises and never changes the response. Texts reach the log
only as ``logging.text`` allows, and the review event only as ``events.text`` allows, and
then masked (``recorded_texts``): every span a redacting check (``type: rules``) matched
is stored as ``[REDACTED:<label>]``, whatever the policy did with it, so a detected secret
or address is never stored raw. The principal appears only as its keyed hash.
"""

from __future__ import annotations

import logging
from typing import Any

from proxy.config.schema import LoggingConfig
from proxy.config.snapshot import Snapshot
from proxy.observability.logging import BoundOnce
from proxy.pipeline.context import RequestContext
from proxy.pipeline.moderation import Moderation, record_moderation
from proxy.state.ports import Outcome, Principal

log = BoundOnce("safety_proxy.request")


def record_request(ctx: RequestContext, status: int, outcome: str) -> None:
    """The request's metrics and its log line (``outcome``: its ``outcome_label``, read
    once the request is done)."""
    metrics = ctx.metrics
    elapsed = ctx.elapsed()
    metrics.requests.labels(ctx.route, outcome).inc()
    metrics.request_duration.labels(ctx.route).observe(elapsed)
    metrics.overhead.labels(ctx.route).observe(max(0.0, elapsed - ctx.upstream_seconds))
    if ctx.error_kind:
        metrics.errors.labels(ctx.error_kind).inc()
    for moderation in ctx.moderations.values():
        record_moderation(metrics, ctx.snapshot, moderation, ctx.tenant)
    if ctx.redacted_spans:
        metrics.redactions.inc(ctx.redacted_spans)
    _log_line(ctx, status, outcome, elapsed)


def _log_line(ctx: RequestContext, status: int, outcome: str, elapsed: float) -> None:
    logger = log.get()
    if not logger.is_enabled_for(logging.INFO):  # nothing to build
        return
    fields: dict[str, Any] = {
        "request_id": ctx.request_id, "route": ctx.route, "status": status,
        "decision": outcome,
        "reasons": [r.as_dict() for r in ctx.decision.reasons],
        "duration_ms": round(elapsed * 1000, 2),
        "upstream_ms": round(ctx.upstream_seconds * 1000, 2),
        "principal": ctx.principal.key_hash,
    }
    if ctx.user is not None:
        fields["user"] = ctx.user.key_hash
    if ctx.key_id is not None:
        fields["key_id"] = ctx.key_id
    if ctx.tenant is not None:
        fields["tenant"] = ctx.tenant
    if ctx.parsed is not None:
        fields.update(model=ctx.parsed.model, stream=ctx.parsed.stream, stream_cut=ctx.stream_cut)
    if ctx.redacted_spans:
        fields["redacted_spans"] = ctx.redacted_spans
    if ctx.error_kind:
        fields["error"] = ctx.error_kind
    texts = _texts_to_log(ctx, ctx.snapshot.config.logging)
    if texts:
        fields["texts"] = texts
    logger.info("request", **fields)


def _texts_to_log(ctx: RequestContext, config: LoggingConfig) -> dict[str, list[str]]:
    if config.text == "off":
        return {}
    return {direction: [config.kept(text) for text in texts]
            for direction, texts in recorded_texts(ctx).items()}


def recorded_texts(ctx: RequestContext) -> dict[str, list[str]]:
    """Each direction's scored texts as a record may keep them: masked where the policy
    redacted, and where a check found personal data or a secret (its ``sensitive_labels``
    that scored above 0), whatever the policy did with them."""
    return {direction: [_masked(ctx.snapshot, moderation, text) for text in moderation.texts]
            for direction, moderation in ctx.moderations.items()}


def _masked(snapshot: Snapshot, moderation: Moderation, text: str) -> str:
    redacted = moderation.decision.redactions()
    for check in snapshot.checks_for(moderation.direction):
        redact = getattr(check.classifier, "redact", None)
        scores = moderation.scores.get(check.name, {})
        labels = set(redacted.get(check.name, ())) | {
            label for label in check.classifier.sensitive_labels if scores.get(label, 0) > 0}
        if redact is not None and labels:
            text = redact(text, labels)[0]
    return text


def request_outcome(ctx: RequestContext) -> Outcome:
    """What the abuse gate records of a request (built only for a flag or block: an
    allowed request strikes no one). Without a strike to charge (``ctx.strikes`` False)
    it names no principal and no user: the gate strikes no one for it and keeps its
    event."""
    principal, user = (ctx.principal, ctx.user) if ctx.strikes else (Principal(None), None)
    return Outcome(
        request_id=ctx.request_id, principal=principal, tenant=ctx.tenant,
        model=ctx.parsed.model if ctx.parsed else None, decision=ctx.decision,
        directions={d: m.decision for d, m in ctx.moderations.items()},
        scores={f"{d}.{check}": labels for d, m in ctx.moderations.items()
                for check, labels in m.scores.items()},
        texts=recorded_texts(ctx) if ctx.snapshot.config.events.text != "off" else {},
        refusal_label=ctx.snapshot.config.policy.refusal_label,
        user=user, key_id=ctx.key_id, charged=dict(ctx.charged),
    )
