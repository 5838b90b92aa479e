"""Every other path under /v1/ (models, embeddings, ...), forwarded unchanged when
``upstream.passthrough`` is on. Bodies stream both ways; nothing is scored."""

from __future__ import annotations

import time

import aiohttp
from aiohttp import web

from proxy.pipeline.body import read_body
from proxy.pipeline.context import RequestContext
from proxy.pipeline.record import record_request
from proxy.pipeline.upstream import response_headers
from proxy.protocol.errors import BadRequest, ProxyError
from proxy.protocol.safety import DECISION_HEADER
from proxy.resources import METRICS, UPSTREAMS
from proxy.routes.common import current_snapshot, error_response, new_request_id

ROUTE = "passthrough"


async def passthrough(request: web.Request) -> web.StreamResponse:
    async with current_snapshot(request) as snapshot:
        ctx = RequestContext(new_request_id(request, snapshot), ROUTE, snapshot,
                             request.app[METRICS])
        response: web.StreamResponse = web.Response(status=500)
        try:
            response = await _forward(request, ctx)
        except ProxyError as error:
            ctx.error_kind = error.kind
            response = error_response(error, ctx)
        finally:
            record_request(ctx, response.status)
        return response


async def _forward(request: web.Request, ctx: RequestContext) -> web.StreamResponse:
    config = ctx.snapshot.config
    if not config.upstream.passthrough:
        raise BadRequest(f"unknown path {request.path} (passthrough is off)",
                         code="unknown_url")
    body = await read_body(request, config.server.max_body_bytes)
    upstream = await request.app[UPSTREAMS].get(config.upstream)
    path = request.match_info["tail"]
    started = time.perf_counter()
    answer = await upstream.open(request.method, path, data=body or None,
                                 headers=request.headers, query=request.query_string)
    ctx.metrics.upstream_responses.labels(f"{answer.status // 100}xx").inc()
    try:
        return await _stream_back(request, ctx, answer)
    finally:
        answer.release()
        ctx.upstream_seconds = time.perf_counter() - started
        ctx.metrics.upstream_duration.observe(ctx.upstream_seconds)


async def _stream_back(request: web.Request, ctx: RequestContext,
                       answer: aiohttp.ClientResponse) -> web.StreamResponse:
    headers = {**response_headers(answer.headers), DECISION_HEADER: "allow",
               "x-request-id": ctx.request_id}
    if answer.content_type:
        headers["Content-Type"] = answer.headers.get("Content-Type", answer.content_type)
    response = web.StreamResponse(status=answer.status, headers=headers)
    await response.prepare(request)
    try:
        async for chunk in answer.content.iter_any():
            await response.write(chunk)
    except (aiohttp.ClientError, TimeoutError):
        ctx.error_kind = "upstream_stream_broken"
    except ConnectionError:
        ctx.error_kind = "client_disconnected"
        return response
    await response.write_eof()
    return response



