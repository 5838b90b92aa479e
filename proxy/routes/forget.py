"""A Responses answer the proxy blocked is deleted upstream, so nobody can continue from it.

The Responses API stores each response (``store`` defaults to true), and a later request can
continue from it (``previous_response_id``) or from a conversation it was added to
(``conversation``): history the model reads that never passes through the proxy again. A
blocked answer left there would stay in the model's context, ready to be repeated in another
form. So when the proxy blocks an answer (whole, or by cutting its stream) it deletes what
the upstream stored: the response (``DELETE responses/{id}``) and, with a conversation, each
output item the answer added to it (``DELETE conversations/{id}/items/{item}``), with the
request's own credentials; a whole answer before the client gets it, a stream right after
its cut. ``store: false`` stores nothing: nothing to delete.

Contract: never raises. A deletion that fails (the upstream does not store or does not
support it, or is down) is counted in ``safety_proxy_blocked_answers_deleted_total`` by
result and logged with the upstream's status only; the answer stays blocked either way.
"""

from __future__ import annotations

import asyncio
import re

import structlog
from aiohttp import web

from classifiers.tasks import spawn
from proxy.pipeline.context import RequestContext
from proxy.pipeline.upstream import Upstream
from proxy.pipeline.upstream_http import UpstreamHTTPError
from proxy.protocol.errors import ProxyError
from proxy.protocol.stored import StoredAnswer
from proxy.routes.upstream_io import forwards_client_key

log = structlog.get_logger("safety_proxy.forget")
# What the upstream names its objects with (resp_..., conv_..., msg_...): a path segment
# the upstream URL can hold as it is. Anything else is not sent anywhere.
_ID = re.compile(r"[A-Za-z0-9_-]{1,200}")  # fullmatch: no trailing newline slips through


def forget(upstream: Upstream, request: web.Request, ctx: RequestContext,
           stored: StoredAnswer) -> asyncio.Task[None]:
    """Starts deleting what the upstream stored, in a task of its own: it runs to its end
    even when the client leaves and its request's task is cancelled. Await it shielded."""
    return spawn(_delete_stored(upstream, request, ctx, stored), name="forget-blocked-answer")


async def _delete_stored(upstream: Upstream, request: web.Request, ctx: RequestContext,
                         stored: StoredAnswer) -> None:
    """The stored response, then its conversation items; see the module's contract."""
    targets: list[tuple[str, ...]] = [("responses", stored.response_id)
                                      ] if stored.response_id else []
    if stored.conversation_id:
        targets += [("conversations", stored.conversation_id, "items", item)
                    for item in stored.item_ids]
    for segments in targets:
        await _delete(upstream, request, ctx, segments)


async def _delete(upstream: Upstream, request: web.Request, ctx: RequestContext,
                  segments: tuple[str, ...]) -> None:
    if not all(_ID.fullmatch(segment) for segment in segments):
        _count(ctx, "invalid_id")
        return
    try:
        answer = await upstream.open("DELETE", segments, data=None, headers=request.headers,
                                     client_credentials=forwards_client_key(ctx))
        status = answer.status
        answer.release()
    except (ProxyError, UpstreamHTTPError, TimeoutError, ValueError):
        status = None  # ValueError: a header the client refuses to send
    result = ("deleted" if status is not None and status < 300 else
              "not_found" if status == 404 else "failed")
    _count(ctx, result)
    if result != "deleted":
        log.warning("blocked_answer_not_deleted", request_id=ctx.request_id, kind=segments[0],
                    upstream_status=status)


def _count(ctx: RequestContext, result: str) -> None:
    ctx.metrics.blocked_answers_deleted.labels(result).inc()
