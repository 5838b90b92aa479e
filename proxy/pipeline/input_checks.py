"""Checks the conversation before it goes upstream."""

from __future__ import annotations

from proxy.pipeline.context import RequestContext
from proxy.pipeline.moderation import Moderation, moderate


async def check_input(ctx: RequestContext) -> Moderation:
    assert ctx.chat is not None
    if ctx.chat.unscanned_parts:
        ctx.metrics.unscanned_parts.labels("input").inc(ctx.chat.unscanned_parts)
    texts = [ref.text for ref in ctx.chat.texts]
    moderation = await moderate(ctx.snapshot, "input", texts, ctx.classify_context("input"),
                                ctx.metrics, ctx.cache)
    ctx.moderations["input"] = moderation
    return moderation
