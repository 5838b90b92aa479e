"""Talking to the upstream from a route: open, read JSON, relay its errors as they are."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from proxy.pipeline.context import RequestContext
from proxy.pipeline.upstream import Upstream, response_headers
from proxy.protocol.errors import UpstreamBadResponse, UpstreamTimeout, UpstreamUnreachable
from proxy.routes.paths import Route


def raw_query(request: web.Request) -> str:
    """The query string as the client encoded it (Azure's ``api-version`` and others)."""
    return request.raw_path.partition("?")[2]


async def open_upstream(upstream: Upstream, request: web.Request, route: Route,
                        body: dict[str, Any], ctx: RequestContext) -> aiohttp.ClientResponse:
    answer = await upstream.open("POST", route.segments, data=orjson.dumps(body),
                                 headers=request.headers, query=raw_query(request))
    ctx.upstream_status = answer.status
    ctx.metrics.upstream_responses.labels(f"{answer.status // 100}xx").inc()
    return answer


async def read_all(answer: aiohttp.ClientResponse, ctx: RequestContext, started: float) -> bytes:
    try:
        return await answer.read()
    except TimeoutError:
        raise UpstreamTimeout("the upstream model API stopped answering") from None
    except aiohttp.ClientError as exc:
        raise UpstreamUnreachable(f"the upstream answer broke off: {type(exc).__name__}") from None
    finally:
        answer.release()
        elapsed = time.perf_counter() - started
        ctx.upstream_seconds = elapsed
        ctx.metrics.upstream_duration.observe(elapsed)


async def read_upstream_json(answer: aiohttp.ClientResponse, ctx: RequestContext,
                             started: float) -> dict[str, Any]:
    raw = await read_all(answer, ctx, started)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        raise UpstreamBadResponse(
            f"the upstream answered {answer.status} with a non-JSON body "
            f"(content-type {answer.content_type!r}, {len(raw)} bytes)")
    return body


async def relay_upstream_error(answer: aiohttp.ClientResponse, ctx: RequestContext,
                               started: float) -> web.Response:
    """Upstream errors in OpenAI shape are relayed with their status; others become a 502."""
    raw = await read_all(answer, ctx, started)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = None
    if not (isinstance(body, dict) and isinstance(body.get("error"), dict | str)):
        raise UpstreamBadResponse(
            f"the upstream answered {answer.status} with a body that is not an OpenAI error "
            f"(content-type {answer.content_type!r})")
    return web.Response(body=raw, status=answer.status, headers=response_headers(answer.headers),
                        content_type="application/json")
