"""``POST /v1/moderations``: the proxy as a guardrail backend for other gateways (LiteLLM's
``openai_moderation`` guardrail, agent gateways). Served here, never forwarded upstream.

Contract: the inputs are scored with the configured INPUT checks and decided one by one
with the tenant's input policy. The answer is always a 200 with one result per input (a
client asks for a verdict; nothing is blocked at HTTP level); ``x-safety-decision`` is the
strongest decision over the inputs. The request is recorded like any other (metrics, log,
review event), but strikes no principal: it is a classifier service, not a generation.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Any

from aiohttp import web

from classifiers.base import ClassifyContext
from proxy.pipeline.attachments import image_texts
from proxy.pipeline.context import RequestContext
from proxy.pipeline.decision import decide
from proxy.pipeline.fetch import FetchOutcomes, fetch_images
from proxy.pipeline.moderation import Moderation
from proxy.pipeline.moderation import moderate as score_inputs
from proxy.pipeline.ocr import Outcomes
from proxy.pipeline.views import seams
from proxy.protocol.dialect import is_web_url
from proxy.protocol.errors import json_response
from proxy.protocol.moderations import ModerationRequest, parse_request, response_body, result
from proxy.resources import FETCHERS
from proxy.routes.body import check_text_limits, read_body
from proxy.routes.common import identify, serve
from proxy.verdict import ALLOW, Decision

ROUTE = "moderations"


async def moderate(request: web.Request) -> web.StreamResponse:
    return await serve(request, ROUTE, lambda ctx: _handle(request, ctx))


async def _handle(request: web.Request, ctx: RequestContext) -> web.StreamResponse:
    ctx.strikes = False
    server = ctx.snapshot.config.server
    parsed = parse_request(await read_body(request, server))
    check_text_limits([text for texts in parsed.inputs for text in texts], server)
    await identify(request, ctx, parsed.body)
    if parsed.images:  # read once the caller is known and admitted: it costs CPU
        outcomes: Outcomes = Counter()
        texts = [text for text in await image_texts(
            await _fetched(request, ctx, parsed.images), server, outcomes) if text]
        ctx.metrics.count_ocr(outcomes)
        parsed = replace(parsed, inputs=(parsed.inputs[0] + tuple(texts),))
        check_text_limits(list(parsed.inputs[0]), server)
    results = await _results(ctx, parsed)
    return json_response(response_body(ctx.request_id, parsed.model, results))


async def _fetched(request: web.Request, ctx: RequestContext, images: tuple[str, ...]
                   ) -> list[str]:
    """The images, those given by http(s) URL fetched (pipeline/fetch.py) as data: URLs
    when they could be."""
    if not any(is_web_url(url) for url in images):
        return list(images)
    server = ctx.snapshot.config.server
    outcomes: FetchOutcomes = Counter()
    fetched = await fetch_images(images, server, request.app[FETCHERS].get(server.fetch),
                                 outcomes)
    ctx.metrics.count_fetches(outcomes)
    return fetched


async def _results(ctx: RequestContext, parsed: ModerationRequest) -> list[dict[str, Any]]:
    """One result per input. Every text is scored in one run (one batch per check, the
    verdict cache as everywhere); each input is then decided on its own texts' scores."""
    if parsed.unreadable:
        ctx.metrics.unscanned_parts.labels("input").inc(parsed.unreadable)
    inputs = [[text for text in texts if text.strip()] for texts in parsed.inputs]
    joins = [(span.start, view) for span, texts in zip(_positions(inputs), inputs, strict=True)
             for view in seams(texts, ctx.snapshot.config.streaming.window_chars,
                               [0] * len(texts))]  # each input's parts, read as one
    ctx.moderations["input"] = moderation = await score_inputs(
        ctx.snapshot, "input", [text for texts in inputs for text in texts],
        ClassifyContext("input"), ctx.metrics, ctx.cache, ctx.tenant, joins)
    labels = {check.name: check.classifier.labels for check in ctx.snapshot.checks_for("input")}
    return [result(*_verdict(ctx, moderation, positions), labels)
            for positions in _positions(inputs)]


def _positions(inputs: list[list[str]]) -> list[range]:
    """Each input's positions in the flat list of texts scored (in input order)."""
    spans, start = [], 0
    for texts in inputs:
        spans.append(range(start, start + len(texts)))
        start += len(texts)
    return spans


def _verdict(ctx: RequestContext, moderation: Moderation,
             positions: range) -> tuple[Decision, dict[str, dict[str, float]]]:
    """One input's decision and scores, from its own texts only. An input with nothing to
    score (empty, or images only) is allowed, as ``moderate`` allows an empty request."""
    if not positions:
        return ALLOW, {}
    scores = moderation.run.max_by_check(positions)
    policy = ctx.snapshot.policy_for("input", ctx.tenant)
    return decide(policy, scores, moderation.run.failures), scores
