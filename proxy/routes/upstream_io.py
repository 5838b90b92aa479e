"""Talking to the upstream from a route: open, read JSON, relay its errors."""

from __future__ import annotations

import time
from typing import Any

import orjson
from aiohttp import web

from proxy.pipeline.context import RequestContext
from proxy.pipeline.output_checks import moderate_answer
from proxy.pipeline.upstream import Upstream, response_headers
from proxy.pipeline.upstream_http import Answer, UpstreamHTTPError
from proxy.protocol.errors import (
    BadRequest,
    UpstreamAnswered,
    UpstreamBadResponse,
    UpstreamTimeout,
    UpstreamUnreachable,
    json_response,
)
from proxy.protocol.fields import string_leaves
from proxy.routes.paths import Route


def raw_query(request: web.Request) -> str:
    """The query string as the client encoded it (Azure's ``api-version`` and others)."""
    return request.raw_path.partition("?")[2]


def forwards_client_key(ctx: RequestContext) -> bool:
    """Whether the client's credential may reach the upstream: not when it is one of the
    proxy's own client keys (auth.mode: keys)."""
    return ctx.snapshot.config.auth.mode != "keys"


async def open_upstream(upstream: Upstream, request: web.Request, route: Route,
                        body: dict[str, Any], ctx: RequestContext) -> Answer:
    answer = await upstream.open("POST", route.segments, data=orjson.dumps(body),
                                 headers=request.headers, query=raw_query(request),
                                 client_credentials=forwards_client_key(ctx))
    ctx.upstream_status = answer.status
    ctx.metrics.upstream_responses.labels(f"{answer.status // 100}xx").inc()
    return answer


async def read_all(answer: Answer, ctx: RequestContext, started: float) -> bytes:
    try:
        return await answer.read()
    except TimeoutError:
        raise UpstreamTimeout("the upstream model API stopped answering") from None
    except UpstreamHTTPError as exc:
        raise UpstreamUnreachable(f"the upstream answer broke off: {type(exc).__name__}") from None
    finally:
        answer.release()
        elapsed = time.perf_counter() - started
        ctx.upstream_seconds = elapsed
        ctx.metrics.upstream_duration.observe(elapsed)


async def read_upstream_json(answer: Answer, ctx: RequestContext,
                             started: float) -> tuple[bytes, dict[str, Any]]:
    """The answer's body as it came and as the JSON object it must be."""
    raw = await read_all(answer, ctx, started)
    body = _json_or_none(raw)
    if not isinstance(body, dict):
        raise UpstreamBadResponse(
            f"the upstream answered {answer.status} with a non-JSON body "
            f"(content-type {answer.content_type!r}, {len(raw)} bytes)")
    return raw, body


async def relay_upstream_error(answer: Answer, ctx: RequestContext,
                               started: float) -> web.Response:
    """An upstream error status (4xx, 5xx) is relayed with its status and headers
    (``Retry-After``, rate limits): a JSON object body, once the output checks allowed its
    strings (an error can quote what the model wrote: an upstream guard's message, a failed
    tool-call parse), written again from what they read (a repeated key's other copy never
    passes); any other body, or one they block, replaced by the API's error format with a
    fixed message (never echoed). A 3xx is a 502: redirects are never followed."""
    raw = await read_all(answer, ctx, started)
    if answer.status < 400:
        raise UpstreamBadResponse(f"the upstream model API answered a redirect "
                                  f"({answer.status}); the proxy never follows one")
    headers = response_headers(answer.headers)
    body = _json_or_none(raw)
    if not isinstance(body, dict) or not await _error_allowed(ctx, body):
        return json_response(ctx.dialect.error_body(UpstreamAnswered(answer.status)),
                             status=answer.status, headers=headers)
    return json_response(body, status=answer.status, headers=headers)


async def _error_allowed(ctx: RequestContext, body: dict[str, Any]) -> bool:
    """Whether the output checks allow every string of an upstream error body (one text
    each); one nested past MAX_DEPTH is not read, so not relayed."""
    try:
        texts = [(0, text) for _, text in string_leaves(body, ()) if text.strip()]
    except BadRequest:
        return False
    moderation, blocked = await moderate_answer(
        ctx.snapshot, texts, ctx.classify_context("output"), ctx.metrics, ctx.cache,
        ctx.tenant)
    ctx.moderations["output"] = moderation
    return not blocked


def _json_or_none(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
