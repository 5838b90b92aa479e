"""Allow-listed API paths that no dialect moderates (models, embeddings...): forwarded
under ``upstream.base_url`` as they are, recorded as ``unchecked``. The abuse gate still
applies: a banned principal is refused here as everywhere.

The request body is read whole first (read_body: its size and time limits hold here too),
then sent; the upstream's answer is streamed back to the client chunk by chunk as it
arrives, never buffered."""

from __future__ import annotations

import time

from aiohttp import web

from proxy.pipeline.context import RequestContext
from proxy.pipeline.upstream import response_headers
from proxy.pipeline.upstream_http import Answer, UpstreamHTTPError
from proxy.protocol.safety import DECISION_HEADER
from proxy.resources import UPSTREAMS
from proxy.routes.body import read_body
from proxy.routes.common import identify, serve
from proxy.routes.paths import Route
from proxy.routes.upstream_io import forwards_client_key, raw_query

ROUTE = "passthrough"


async def forward(request: web.Request, route: Route) -> web.StreamResponse:
    return await serve(request, ROUTE, lambda ctx: _forward(request, ctx, route))


async def _forward(request: web.Request, ctx: RequestContext,
                   route: Route) -> web.StreamResponse:
    config = ctx.snapshot.config
    ctx.unchecked = True
    body = await read_body(request, config.server)
    await identify(request, ctx, None)
    upstream = request.app[UPSTREAMS].get(config.upstream)
    started = time.perf_counter()
    answer = await upstream.open(request.method, route.segments, data=body or None,
                                 headers=request.headers, query=raw_query(request),
                                 client_credentials=forwards_client_key(ctx))
    ctx.metrics.upstream_responses.labels(f"{answer.status // 100}xx").inc()
    try:
        return await _stream_back(request, ctx, answer)
    finally:
        answer.release()
        ctx.upstream_seconds = time.perf_counter() - started
        ctx.metrics.upstream_duration.observe(ctx.upstream_seconds)


async def _stream_back(request: web.Request, ctx: RequestContext,
                       answer: Answer) -> web.StreamResponse:
    headers = {**response_headers(answer.headers), DECISION_HEADER: ctx.outcome_label,
               "x-request-id": ctx.request_id}
    if answer.content_type:
        headers["Content-Type"] = answer.headers.get("Content-Type", answer.content_type)
    response = web.StreamResponse(status=answer.status, headers=headers)
    await response.prepare(request)
    try:
        async for chunk in answer.content.iter_any():
            await response.write(chunk)
    except (UpstreamHTTPError, TimeoutError):
        ctx.error_kind = "upstream_stream_broken"
    except ConnectionError:
        ctx.error_kind = "client_disconnected"
        return response
    await response.write_eof()
    return response
