"""The generation APIs (chat completions, responses, completions, messages): one request's
path through the pipeline, step by step, whatever its dialect."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

from aiohttp import web

from classifiers.tasks import owned
from proxy.observability.tracing import note_answer
from proxy.pipeline.attachments import adopt_images, read_attachments
from proxy.pipeline.context import RequestContext
from proxy.pipeline.fetch import FetchOutcomes, fetch_linked
from proxy.pipeline.input_checks import check_input
from proxy.pipeline.moderation import Moderation
from proxy.pipeline.ocr import Outcomes
from proxy.pipeline.output_checks import (
    hear_clips,
    moderate_answer,
    read_pictures,
    scored_texts,
)
from proxy.pipeline.stream_relay import RelayedStream, StreamRelay
from proxy.pipeline.transcribe import Transcriber, TranscriptionOutcomes
from proxy.pipeline.upstream import Upstream, response_headers
from proxy.pipeline.upstream_http import Answer
from proxy.protocol.dialect import Dialect, ParsedRequest
from proxy.protocol.errors import BadRequest, ProxyError, UpstreamBadResponse, json_response
from proxy.protocol.safety import DECISION_HEADER, safety_object
from proxy.protocol.side_effects import acts_upstream
from proxy.protocol.stored import stored_answer, stored_stream
from proxy.resources import FETCHERS, TRANSCRIBERS, UPSTREAMS
from proxy.routes.body import check_text_limits, read_body
from proxy.routes.common import charge_input, end_stream, identify, serve
from proxy.routes.forget import forget
from proxy.routes.paths import Route
from proxy.routes.upstream_io import open_upstream, read_upstream_json, relay_upstream_error


async def generate(request: web.Request, route: Route, dialect: Dialect) -> web.StreamResponse:
    return await serve(request, dialect.name, lambda ctx: _handle(request, ctx, route), dialect)


async def _handle(request: web.Request, ctx: RequestContext, route: Route) -> web.StreamResponse:
    config = ctx.snapshot.config
    raw = await read_body(request, config.server)
    ctx.parsed = parsed = ctx.dialect.parse_request(
        raw, forward_unknown=config.routes.forward_unknown_content)
    check_text_limits([field.text for field in parsed.texts], config.server)
    ctx.unchecked = parsed.unknown > 0
    await identify(request, ctx, parsed.body)
    await _read_inline(request, ctx, parsed)  # once the caller is known and admitted
    upstream = request.app[UPSTREAMS].get(config.upstream)
    started = time.perf_counter()
    if config.upstream.send_during_input_checks and not acts_upstream(ctx.dialect.name,
                                                                      parsed.body):
        sent = await _sent_during_checks(request, ctx, upstream, route)
        if sent is None:
            return _input_blocked(ctx)
        answer = sent
    else:
        moderation = await check_input(ctx)
        if moderation.decision.blocked:
            return _input_blocked(ctx)
        await charge_input(request, ctx)  # a flagged prompt's strike lands before it goes up
        started = time.perf_counter()
        answer = await open_upstream(upstream, request, route, parsed.body, ctx)
    if answer.status >= 300:  # redirects are answers too, never followed
        return await relay_upstream_error(answer, ctx, started)
    if parsed.stream and answer.content_type == "text/event-stream":
        return await _relay_stream(request, ctx, upstream, answer, started)
    raw, body = await read_upstream_json(answer, ctx, started)
    response = await _complete(ctx, raw, body, response_headers(answer.headers),
                               request.app[TRANSCRIBERS].get(config.server.transcription))
    if ctx.stored is not None:  # blocked: nobody may continue from it (forget.py)
        await asyncio.shield(forget(upstream, request, ctx, ctx.stored))
    return response


async def _read_inline(request: web.Request, ctx: RequestContext, parsed: ParsedRequest
                       ) -> None:
    """The text in the request's files and images (those given by URL fetched first, and
    then sent upstream inline) and the speech in its audio: it costs CPU and the network,
    so only for a caller identified and admitted."""
    server = ctx.snapshot.config.server
    adopt_images(parsed)
    if parsed.linked:
        fetched: FetchOutcomes = Counter()
        await fetch_linked(parsed, server, request.app[FETCHERS].get(server.fetch), fetched)
        ctx.metrics.count_fetches(fetched)
    if parsed.attachments:
        outcomes: Outcomes = Counter()
        heard: TranscriptionOutcomes = Counter()
        await read_attachments(parsed, server, outcomes,
                               request.app[TRANSCRIBERS].get(server.transcription), heard)
        ctx.metrics.count_ocr(outcomes)
        ctx.metrics.count_transcriptions(heard)
        check_text_limits([field.text for field in parsed.texts], server)


async def _sent_during_checks(request: web.Request, ctx: RequestContext, upstream: Upstream,
                              route: Route) -> Answer | None:
    """Sends the request upstream while its input checks run: the upstream's answer, its
    body unread, once they pass and its strike is charged; None when they block it. An
    answer not taken (blocked, the principal refused at its charge, the client gone, an
    error) is withdrawn: the call cancelled, or its connection closed unread, so the
    upstream can stop generating; nothing of it reaches the client."""
    assert ctx.parsed is not None
    sending = owned(open_upstream(upstream, request, route, ctx.parsed.body, ctx),
                    name=f"send-{ctx.request_id}")
    await asyncio.sleep(0)  # the request on the wire (one write) before the checks take the loop
    withdrawn = "abandoned"  # why, if this ends before the answer is taken
    try:
        if (await check_input(ctx)).decision.blocked:
            withdrawn = "blocked"
            return None
        try:
            await charge_input(request, ctx)
        except ProxyError:
            withdrawn = "refused"
            raise
        withdrawn = ""
        return await sending
    finally:
        if withdrawn:
            ctx.metrics.withdrawn_requests.labels(withdrawn).inc()
            await _withdraw(sending)


async def _withdraw(sending: asyncio.Future[Answer]) -> None:
    if not sending.done():
        sending.cancel()  # open_upstream's contract: cancelling it closes the connection
        await asyncio.wait([sending])
    if not sending.cancelled() and sending.exception() is None:
        sending.result().release()  # unread: its connection is closed


async def _complete(ctx: RequestContext, raw: bytes, body: dict[str, Any],
                    headers: dict[str, str], transcriber: Transcriber) -> web.Response:
    """``raw``: the answer as it came, ``body`` parsed; ``headers``: the upstream's (rate
    limits, processing time), relayed; ``transcriber`` hears spoken answers. A blocked
    answer's stored parts are noted in ``ctx.stored``."""
    note_answer(body)  # its model, finish reasons and usage on the trace, when traced
    config = ctx.snapshot.config
    if not ctx.snapshot.checks_for("output") and config.logging.text == config.events.text == "off":
        # Nothing reads the answer's texts: relayed as it came, untouched (and unreadable
        # past orjson's depth to write again, which the readers would have refused).
        ctx.moderations["output"] = Moderation("output")
        return web.Response(body=raw, headers=headers, content_type="application/json")
    try:
        texts = scored_texts(ctx.dialect.answer_texts(body))
    except BadRequest:  # the readers refuse JSON nested past MAX_DEPTH: not the client's fault
        raise UpstreamBadResponse("the upstream's answer is nested too deeply to be checked"
                                  ) from None
    texts = await read_pictures(ctx.snapshot, texts, ctx.metrics)  # generated images' text
    texts = await hear_clips(ctx.snapshot, texts, transcriber, ctx.metrics)  # spoken answers
    moderation, blocked = await moderate_answer(ctx.snapshot, texts, ctx.classify_context("output"),
                                                ctx.metrics, ctx.cache, ctx.tenant)
    ctx.moderations["output"] = moderation
    if blocked:
        assert ctx.parsed is not None
        ctx.stored = stored_answer(ctx.dialect.name, ctx.parsed.body, body)
        ctx.dialect.block_answer(body, blocked, ctx.snapshot.config.policy.refusal_text,
                                 safety_object("output", moderation.decision))
    return json_response(body, headers=headers)


async def _relay_stream(request: web.Request, ctx: RequestContext, upstream: Upstream,
                        answer: Answer, started: float) -> web.StreamResponse:
    response = RelayedStream(headers={
        **response_headers(answer.headers),
        "Content-Type": "text/event-stream", "Cache-Control": "no-cache",
        DECISION_HEADER: ctx.outcome_label, "x-request-id": ctx.request_id})
    relay = StreamRelay(ctx, response, request)
    forgetting = None
    try:
        await relay.relay(answer)
    finally:  # also when the client left during the cut, and this task is cancelled
        if ctx.stream_cut:  # nobody may continue from a blocked answer (forget.py)
            assert ctx.parsed is not None
            ctx.stored = stored_stream(ctx.parsed.body, relay.codec)
            if ctx.stored is not None:
                forgetting = forget(upstream, request, ctx, ctx.stored)
    ctx.upstream_seconds = time.perf_counter() - started
    ctx.metrics.upstream_duration.observe(ctx.upstream_seconds)  # the whole stream
    if response.prepared:
        await end_stream(response)
    if forgetting is not None:
        await asyncio.shield(forgetting)
    return response if response.prepared else web.Response(status=499)  # 499: left early


def _input_blocked(ctx: RequestContext) -> web.Response:
    assert ctx.parsed is not None
    policy = ctx.snapshot.config.policy
    safety = safety_object("input", ctx.moderations["input"].decision)
    status, body = ctx.dialect.input_blocked(ctx.parsed, ctx.request_id, safety,
                                             policy.refusal_text, policy.input_block_style)
    if isinstance(body, bytes):
        return web.Response(body=body, status=status, headers={
            "Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    return json_response(body, status=status)
