"""POST /v1/chat/completions: the request's path through the pipeline, step by step."""

from __future__ import annotations

import contextlib
import time

import aiohttp
import orjson
from aiohttp import web

from proxy.pipeline.body import read_body
from proxy.pipeline.context import RequestContext
from proxy.pipeline.input_checks import check_input
from proxy.pipeline.output_checks import answer_texts, moderate_answer
from proxy.pipeline.record import record_request
from proxy.pipeline.stream_relay import StreamRelay
from proxy.protocol import sse
from proxy.protocol.chat import parse_chat_request
from proxy.protocol.errors import ProxyError, json_response
from proxy.protocol.safety import (
    DECISION_HEADER,
    block_choices,
    input_blocked_envelope,
    refusal_chunks,
    refusal_completion,
    safety_object,
)
from proxy.resources import ABUSE_GATE, BACKGROUND, METRICS, UPSTREAMS, VERDICT_CACHE
from proxy.routes.common import admission_error, current_snapshot, error_response, new_request_id
from proxy.routes.upstream_io import open_upstream, read_upstream_json, relay_upstream_error
from proxy.state.factory import STATE_LAYER

ROUTE = "chat_completions"


async def chat_completions(request: web.Request) -> web.StreamResponse:
    async with current_snapshot(request) as snapshot:
        ctx = RequestContext(new_request_id(request, snapshot), ROUTE, snapshot,
                             request.app[METRICS], cache=request.app[VERDICT_CACHE])
        response: web.StreamResponse = web.Response(status=500)
        try:
            response = await _handle(request, ctx)
        except ProxyError as error:
            ctx.error_kind = error.kind
            response = error_response(error, ctx)
        finally:
            response.headers.setdefault(DECISION_HEADER, ctx.decision.action)
            response.headers.setdefault("x-request-id", ctx.request_id)
            outcome = record_request(ctx, response.status)
            if ctx.decision.action != "allow":
                request.app[BACKGROUND].spawn(request.app[ABUSE_GATE].record(outcome),
                                              f"record-{ctx.request_id}")
        return response


async def _handle(request: web.Request, ctx: RequestContext) -> web.StreamResponse:
    config = ctx.snapshot.config
    ctx.chat = parse_chat_request(await read_body(request, config.server.max_body_bytes))
    ctx.tenant = ctx.snapshot.tenant_of(request.headers)
    ctx.principal = request.app[STATE_LAYER].identifier.identify(request.headers, ctx.chat.body)
    admission = await request.app[ABUSE_GATE].admit(ctx.principal)
    if admission.state != "ok":
        raise admission_error(admission)
    moderation = await check_input(ctx)
    if moderation.decision.blocked:
        return _input_blocked(ctx)
    upstream = await request.app[UPSTREAMS].get(config.upstream)
    started = time.perf_counter()
    answer = await open_upstream(upstream, request, orjson.dumps(ctx.chat.body), ctx)
    if answer.status >= 400:
        return await relay_upstream_error(answer, ctx, started)
    if ctx.chat.stream and answer.content_type == "text/event-stream":
        return await _relay_stream(request, ctx, answer, started)
    return await _complete(ctx, await read_upstream_json(answer, ctx, started))


async def _complete(ctx: RequestContext, body: dict) -> web.Response:
    texts = answer_texts(body)
    moderation, blocked = await moderate_answer(ctx.snapshot, texts, ctx.classify_context("output"),
                                                ctx.metrics, ctx.cache, ctx.tenant)
    ctx.moderations["output"] = moderation
    if blocked:
        block_choices(body, blocked, ctx.snapshot.config.policy.refusal_text)
        body["safety"] = safety_object("output", moderation.decision)
    return json_response(body, headers={DECISION_HEADER: ctx.decision.action})


async def _relay_stream(request: web.Request, ctx: RequestContext,
                        answer: aiohttp.ClientResponse, started: float) -> web.StreamResponse:
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-cache",
        DECISION_HEADER: ctx.decision.action, "x-request-id": ctx.request_id})
    await StreamRelay(ctx, response, request).relay(answer)
    ctx.upstream_seconds = time.perf_counter() - started
    ctx.upstream_status = answer.status
    if not response.prepared:  # nothing was sent at all: the client left early
        return web.Response(status=499)
    await _end(response)
    return response


def _input_blocked(ctx: RequestContext) -> web.StreamResponse:
    assert ctx.chat is not None
    policy = ctx.snapshot.config.policy
    decision = ctx.moderations["input"].decision
    headers = {DECISION_HEADER: "block", "x-request-id": ctx.request_id}
    if policy.input_block_style == "error":
        return json_response(input_blocked_envelope(decision), status=400, headers=headers)
    safety = safety_object("input", decision)
    if not ctx.chat.stream:
        body = refusal_completion(ctx.request_id, ctx.chat.model, policy.refusal_text, safety)
        return json_response(body, headers=headers)
    events = b"".join(sse.encode(orjson.dumps(chunk)) for chunk in refusal_chunks(
        ctx.request_id, ctx.chat.model, policy.refusal_text, safety))
    return web.Response(body=events + sse.DONE_EVENT, headers={
        **headers, "Content-Type": "text/event-stream", "Cache-Control": "no-cache"})


async def _end(response: web.StreamResponse) -> None:
    with contextlib.suppress(ConnectionError, RuntimeError):  # the client is gone
        await response.write_eof()

