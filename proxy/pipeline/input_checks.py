"""Checks the conversation before it goes upstream, and masks what the policy redacts."""

from __future__ import annotations

from typing import Protocol

from proxy.pipeline.context import RequestContext
from proxy.pipeline.decision import combine, unreadable_decision
from proxy.pipeline.moderation import Moderation, moderate
from proxy.pipeline.views import seams
from proxy.protocol.fields import whole_of


class Redactor(Protocol):
    def redact(self, text: str, labels: set[str]) -> tuple[str, int]:
        """The text with the spans of ``labels`` masked, and how many spans were masked."""
        ...


async def check_input(ctx: RequestContext) -> Moderation:
    assert ctx.parsed is not None
    if ctx.parsed.unreadable:
        ctx.metrics.unscanned_parts.labels("input").inc(ctx.parsed.unreadable)
    texts = [field.text for field in ctx.parsed.texts]
    if ctx.snapshot.checks_for("input"):
        joins = [] if ctx.parsed.independent or len(texts) < 2 else [  # a batch: never joined
            (0, view) for view in seams(texts, ctx.snapshot.config.streaming.window_chars,
                                        [whole_of(field.path) for field in ctx.parsed.texts])]
        moderation = await moderate(ctx.snapshot, "input", texts,
                                    ctx.classify_context("input"), ctx.metrics, ctx.cache,
                                    ctx.tenant, joins)
    else:  # nothing to score, nothing to redact; the unreadable parts still count
        moderation = Moderation("input", texts=[text for text in texts if text.strip()])
    choice = ctx.snapshot.config.policy.unreadable_content.input
    moderation.decision = combine(moderation.decision,
                                  unreadable_decision(ctx.parsed.unreadable, choice))
    ctx.moderations["input"] = moderation
    if not moderation.decision.blocked and moderation.decision.redactions():
        ctx.redacted_spans = apply_redactions(ctx, moderation)
    return moderation


def apply_redactions(ctx: RequestContext, moderation: Moderation) -> int:
    """Masks, in the request body, every span the decision asked to redact."""
    assert ctx.parsed is not None
    masked = 0
    for field in ctx.parsed.texts:
        new_text, count = _redact(ctx, moderation, field.text)
        if count and ctx.parsed.replace_text(field, new_text):
            masked += count
    return masked


def _redact(ctx: RequestContext, moderation: Moderation, text: str) -> tuple[str, int]:
    """The text with every span the decision asked to redact masked, and how many."""
    wanted = moderation.decision.redactions()
    masked = 0
    for check in ctx.snapshot.checks_for("input"):
        if check.name in wanted:
            redactor: Redactor = check.classifier  # type: ignore[assignment]
            text, count = redactor.redact(text, wanted[check.name])
            masked += count
    return text, masked
