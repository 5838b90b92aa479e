"""One request lifecycle for every route: request id (bound into every log line of the
request), the snapshot in use, errors mapped once into the dialect's own error format,
the decision and request-id headers stamped in one place, recording once."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import structlog
from aiohttp import web

from proxy.config.snapshot import Snapshot
from proxy.pipeline.context import RequestContext
from proxy.pipeline.ports import AbuseGate, Admission, Principal, Ticket
from proxy.pipeline.record import record_request
from proxy.protocol.chat import DIALECT as CHAT
from proxy.protocol.dialect import Dialect
from proxy.protocol.errors import Banned, ProxyError, Throttled, Unavailable, json_response
from proxy.protocol.safety import DECISION_HEADER
from proxy.resources import ABUSE_GATE, BACKGROUND, METRICS, READINESS, VERDICT_CACHE

_CLIENT_DISCONNECTED = "client_disconnected"  # the error kind
_CLIENT_CLOSED_REQUEST = 499
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
Handler = Callable[[RequestContext], Awaitable[web.StreamResponse]]
# The in-flight slots admitted during the running lifecycle: ``admit`` adds, ``serve`` hands
# each back exactly once when the request ends, however it ends.
_TICKETS: contextvars.ContextVar[list[Ticket] | None] = contextvars.ContextVar(
    "abuse_tickets", default=None)


async def serve(request: web.Request, route: str, handle: Handler,
                dialect: Dialect = CHAT) -> web.StreamResponse:
    """Runs ``handle`` inside the request's lifecycle and returns its response, or the
    dialect's error response for a ProxyError it raised. A client that disconnects (its
    handler cancelled, or a write that found it gone) is recorded as 499
    ``client_disconnected``; the cancellation goes on."""
    async with current_snapshot(request) as snapshot:
        ctx = RequestContext(new_request_id(request, snapshot), route, snapshot,
                             request.app[METRICS], cache=request.app[VERDICT_CACHE],
                             dialect=dialect)
        response: web.StreamResponse = web.Response(status=500)
        tickets: list[Ticket] = []
        held = _TICKETS.set(tickets)
        with structlog.contextvars.bound_contextvars(request_id=ctx.request_id):
            try:
                response = await handle(ctx)
            except ProxyError as error:
                ctx.error_kind = error.kind
                response = error_response(error, ctx)
            except asyncio.CancelledError:  # aiohttp cancels the handler of a client gone
                ctx.error_kind = _CLIENT_DISCONNECTED
                raise
            finally:
                _TICKETS.reset(held)
                _stamp(response, ctx)
                _record(request, ctx, _recorded_status(response, ctx), tickets)
        return response


def _recorded_status(response: web.StreamResponse, ctx: RequestContext) -> int:
    """The status a request is recorded with: 499 (nginx's "client closed request") when
    the client left before its answer was complete, whatever was sent until then."""
    return _CLIENT_CLOSED_REQUEST if ctx.error_kind == _CLIENT_DISCONNECTED else response.status


def _stamp(response: web.StreamResponse, ctx: RequestContext) -> None:
    if not response.prepared:  # a stream sent its headers itself
        response.headers[DECISION_HEADER] = ctx.outcome_label
        response.headers["x-request-id"] = ctx.request_id


def _record(request: web.Request, ctx: RequestContext, status: int,
            tickets: list[Ticket]) -> None:
    """Records a flag or block, freeing the first slot in the same step (its strike lands
    as the slot goes); any other slot (an allowed, failed or abandoned request) is released."""
    outcome = record_request(ctx, status)
    if not ctx.strikes:  # the gate strikes no principal-less outcome; its event is kept
        outcome = dataclasses.replace(outcome, principal=Principal(None))
    gate, held = request.app[ABUSE_GATE], list(tickets)
    if ctx.decision.action != "allow":
        request.app[BACKGROUND].spawn(gate.record(outcome, held.pop(0) if held else None),
                                      f"record-{ctx.request_id}")
    for ticket in held:
        request.app[BACKGROUND].spawn(gate.release(ticket), f"release-{ctx.request_id}")


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


async def admit(gate: AbuseGate, principal: Principal) -> None:
    """Refuses a banned or throttled principal (raises the error to answer)."""
    admission = await gate.admit(principal)
    held = _TICKETS.get()
    if admission.ticket is not None and held is not None:  # serve hands it back
        held.append(admission.ticket)
    if admission.state != "ok":
        raise admission_error(admission)


def admission_error(admission: Admission) -> ProxyError:
    """The error for a refused principal. ``x-should-retry: false``: the openai and
    anthropic SDKs would otherwise honour Retry-After and retry silently for as long as a
    throttle lasts, and the application would never see the 429."""
    retry = {"Retry-After": str(max(1, admission.retry_after_s)), "x-should-retry": "false"}
    if admission.state == "banned":
        return Banned("this principal is banned for repeated policy violations",
                      code="principal_banned", headers=retry)
    if admission.state == "throttled":
        return Throttled("too many policy violations; retry later",
                         code="principal_throttled", headers=retry)
    return Unavailable("the abuse state store is unavailable", code="store_unavailable")


def error_response(error: ProxyError, ctx: RequestContext) -> web.Response:
    return json_response(ctx.dialect.error_body(error), status=error.status,
                         headers=dict(error.headers))


async def end_stream(response: web.StreamResponse) -> None:
    with contextlib.suppress(ConnectionError, RuntimeError):  # the client is gone
        await response.write_eof()
