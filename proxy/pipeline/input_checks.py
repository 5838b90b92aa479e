"""Checks the conversation before it goes upstream, and masks what the policy redacts."""

from __future__ import annotations

from typing import Protocol

from proxy.pipeline.context import RequestContext
from proxy.pipeline.moderation import Moderation, moderate


class Redactor(Protocol):
    def redact(self, text: str, labels: set[str]) -> tuple[str, int]:
        """The text with the spans of ``labels`` masked, and how many spans were masked."""
        ...


async def check_input(ctx: RequestContext) -> Moderation:
    assert ctx.chat is not None
    if ctx.chat.unscanned_parts:
        ctx.metrics.unscanned_parts.labels("input").inc(ctx.chat.unscanned_parts)
    texts = [ref.text for ref in ctx.chat.texts]
    moderation = await moderate(ctx.snapshot, "input", texts, ctx.classify_context("input"),
                                ctx.metrics, ctx.cache, ctx.tenant)
    ctx.moderations["input"] = moderation
    if not moderation.decision.blocked:
        ctx.redacted_spans = apply_redactions(ctx, moderation)
    return moderation


def apply_redactions(ctx: RequestContext, moderation: Moderation) -> int:
    """Masks, in the request body, every span the decision asked to redact."""
    assert ctx.chat is not None
    wanted = moderation.decision.redactions()
    masked = 0
    for check in ctx.snapshot.checks_for("input"):
        if check.name not in wanted:
            continue
        redactor: Redactor = check.classifier  # type: ignore[assignment]
        for ref in ctx.chat.texts:
            new_text, count = redactor.redact(ref.text, wanted[check.name])
            if count:
                ctx.chat.replace_text(ref, new_text)
                masked += count
    return masked
