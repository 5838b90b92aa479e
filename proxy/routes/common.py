"""Pieces every route shares: request ids, the snapshot in use, error responses."""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import AsyncIterator

from aiohttp import web

from proxy.config.snapshot import Snapshot
from proxy.pipeline.context import RequestContext
from proxy.pipeline.ports import Admission
from proxy.protocol.errors import Banned, ProxyError, Throttled, Unavailable, json_response
from proxy.protocol.safety import DECISION_HEADER
from proxy.resources import READINESS

_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def new_request_id(request: web.Request, snapshot: Snapshot) -> str:
    """The client's id when it is a safe token (it is echoed and logged), else a new one."""
    given = request.headers.get(snapshot.config.server.request_id_header, "")
    return given if _CLIENT_REQUEST_ID.match(given) else uuid.uuid4().hex


@contextlib.asynccontextmanager
async def current_snapshot(request: web.Request) -> AsyncIterator[Snapshot]:
    holder = request.app[READINESS].holder
    if holder is None:
        raise web.HTTPServiceUnavailable(
            text='{"error": {"message": "the proxy is starting", "type": "service_unavailable",'
                 ' "param": null, "code": "not_ready"}}', content_type="application/json")
    async with holder.use() as snapshot:
        yield snapshot


def admission_error(admission: Admission) -> ProxyError:
    retry = {"Retry-After": str(max(1, admission.retry_after_s))}
    if admission.state == "banned":
        return Banned("this principal is banned for repeated policy violations",
                      code="principal_banned", headers=retry)
    if admission.state == "throttled":
        return Throttled("too many policy violations; retry later",
                         code="principal_throttled", headers=retry)
    return Unavailable("the abuse state store is unavailable", code="store_unavailable")


def error_response(error: ProxyError, ctx: RequestContext) -> web.Response:
    headers = {**error.headers, "x-request-id": ctx.request_id,
               DECISION_HEADER: ctx.decision.action}
    return json_response(error.envelope(), status=error.status, headers=headers)
