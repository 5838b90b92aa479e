"""One request lifecycle for every route: request id (bound into every log line of the
request), the snapshot in use, errors mapped once into the dialect's own error format,
the decision and request-id headers stamped in one place, recording once."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import structlog
from aiohttp import web

from classifiers.tasks import gather_few
from proxy.config.auth import ClientKey
from proxy.config.snapshot import Snapshot, SnapshotUse
from proxy.observability.logging import in_request, out_of_request
from proxy.observability.tracing import request_span
from proxy.pipeline.context import RequestContext
from proxy.pipeline.record import record_request, request_outcome
from proxy.protocol.chat import DIALECT as CHAT
from proxy.protocol.dialect import Dialect
from proxy.protocol.errors import (
    Banned,
    ProxyError,
    Throttled,
    Unauthorized,
    Unavailable,
    json_response,
)
from proxy.protocol.safety import DECISION_HEADER
from proxy.resources import (
    ABUSE_GATE,
    BACKGROUND,
    IDENTIFIER,
    METRICS,
    READINESS,
    STATE_LAYER,
    VERDICT_CACHE,
)
from proxy.state.base import StoreError
from proxy.state.factory import StateLayer
from proxy.state.ports import AbuseGate, Admission, Charged, Principal, Ticket

log = structlog.get_logger("safety_proxy.request")

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
    with current_snapshot(request) as snapshot:
        ctx = RequestContext(new_request_id(request, snapshot), route, snapshot,
                             request.app[METRICS], cache=request.app[VERDICT_CACHE],
                             dialect=dialect)
        response: web.StreamResponse | None = None  # None: an unexpected error (a 500)
        tickets: list[Ticket] = []
        held = _TICKETS.set(tickets)
        logged = in_request(ctx.request_id)  # every line logged while it runs names it
        with request_span(request, ctx) as span:
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
                outcome = ctx.outcome_label  # final: the handler is done
                if response is not None:
                    _stamp(response, ctx, outcome)
                span.finish(status := _recorded_status(response, ctx))
                # Recorded once the answer is on its way: aiohttp writes a response right
                # after its handler returns, in the same step of this task, and this
                # callback runs in the loop's next iteration, before it reads any new
                # request (a client that asks /metrics next finds this one counted). A
                # stream was written by the handler itself. (The loop from the connection's
                # task: ``get_running_loop`` is a getpid system call in CPython 3.11.)
                request.task.get_loop().call_soon(_record, request, ctx, status, outcome,
                                                  tickets)
                out_of_request(logged)
        assert response is not None  # else what the handler raised went on
        return response


def _recorded_status(response: web.StreamResponse | None, ctx: RequestContext) -> int:
    """The status a request is recorded with: 499 (nginx's "client closed request") when
    the client left before its answer was complete, whatever was sent until then; 500
    for an unexpected error (the app's middleware answers it)."""
    if ctx.error_kind == _CLIENT_DISCONNECTED:
        return _CLIENT_CLOSED_REQUEST
    return 500 if response is None else response.status


def _stamp(response: web.StreamResponse, ctx: RequestContext, outcome: str) -> None:
    if not response.prepared:  # a stream sent its headers itself
        response.headers[DECISION_HEADER] = outcome
        response.headers["x-request-id"] = ctx.request_id


def _record(request: web.Request, ctx: RequestContext, status: int, outcome: str,
            tickets: list[Ticket]) -> None:
    """Records a flag or block, freeing each slot in the step that strikes its principal;
    the slots of an allowed, failed or abandoned request are released. ``outcome``: the
    request's ``outcome_label``."""
    record_request(ctx, status, outcome)
    gate = request.app[ABUSE_GATE]
    if ctx.decision.action != "allow" and outcome != "refused":
        # a request refused at its charge was never served and strikes no one
        request.app[BACKGROUND].spawn(gate.record(request_outcome(ctx), *tickets),
                                      f"record-{ctx.request_id}")
        return
    for ticket in tickets:
        request.app[BACKGROUND].spawn(gate.release(ticket), f"release-{ctx.request_id}")


def new_request_id(request: web.Request, snapshot: Snapshot) -> str:
    """The client's id when it is a safe token (it is echoed and logged), else a new one:
    32 random hex digits (os.urandom, as uuid4 draws them, without building a UUID)."""
    given = request.headers.get(snapshot.config.server.request_id_header, "")
    return given if _CLIENT_REQUEST_ID.match(given) else _fresh_ids.draw()


class _FreshIds:
    """Request ids: 16 bytes of os.urandom each, as hex, drawn ``BATCH`` ids per system
    call (one getrandom per request cost as much as the rest of the id). A forked child
    starts with an empty batch: it never repeats its parent's ids."""

    BATCH = 256

    def __init__(self) -> None:
        self._hex, self._next = "", 0

    def draw(self) -> str:
        if self._next >= len(self._hex):
            self._hex, self._next = os.urandom(16 * self.BATCH).hex(), 0
        start = self._next
        self._next += 32
        return self._hex[start:self._next]

    def forget(self) -> None:
        self._hex, self._next = "", 0


_fresh_ids = _FreshIds()
os.register_at_fork(after_in_child=_fresh_ids.forget)


def current_snapshot(request: web.Request) -> SnapshotUse:
    """The live snapshot, in use while the request runs (``with``); 503 while the proxy
    starts."""
    holder = request.app[READINESS].holder
    if holder is None:
        raise web.HTTPServiceUnavailable(
            text='{"error": {"message": "the proxy is starting", "type": "service_unavailable",'
                 ' "param": null, "code": "not_ready"}}', content_type="application/json")
    return holder.use()


async def identify(request: web.Request, ctx: RequestContext,
                   body: Mapping[str, Any] | None) -> None:
    """Who is calling (the key checked as auth.mode says, its tenant, the end user it
    names) and whether they may: raises the error to answer (400 several credentials, 401
    no valid key, 403 / 429 a banned or throttled principal)."""
    layer, identifier, config = (request.app[STATE_LAYER], request.app[IDENTIFIER],
                                 ctx.snapshot.config)
    try:
        wanted = identifier.stored_key_wanted(config, request.headers)
        stored = None if wanted is None else await _stored_key(layer, wanted)
        caller = identifier.caller(config, request.headers, body, datetime.now(UTC), stored)
    except Unauthorized as error:
        ctx.metrics.auth_failures.labels(error.reason).inc()
        log.info("auth_failed", reason=error.reason)  # never the key
        raise
    ctx.principal, ctx.user, ctx.tenant, ctx.key_id = (
        caller.principal, caller.user, caller.tenant, caller.key_id)
    await admit(request.app[ABUSE_GATE], *caller.principals())


async def _stored_key(layer: StateLayer, key_hash: str) -> ClientKey | None:
    """The store's client key for the request's credential (``key_hash``: its hash, when
    the config has no key for it): a store that cannot say is a 503 (a key that cannot be
    verified is never let through)."""
    try:
        return await layer.client_keys.find(key_hash)
    except StoreError:
        raise Unavailable("the client key cannot be verified: the state store is "
                          "unavailable", code="store_unavailable") from None


async def admit(gate: AbuseGate, *principals: Principal) -> None:
    """Refuses the request when any of its principals is banned or throttled (a banned key
    stays banned whatever user it names): raises the error to answer."""
    # Without in-flight slots admission only reads, and the admissions run in the
    # request's own task up to their first wait (gather_few: a memory-store read needs no
    # task and no loop turn at all). With slots, each is
    # a task of its own (asyncio.gather): a request charged at input counts twice until it
    # ends (slot and strike), so how many of a burst get through depends on whether the
    # burst's admissions run before its first charge; in the request's own task a
    # memory-store admission reaches charge_input first: 50 flagged prompts at once got 3
    # through instead of 6 (tests/proxy/state/test_race_free_admission). One principal
    # without slots is simply awaited: the request's task is its own.
    if len(principals) == 1 and not gate.takes_slots:  # the usual caller: a key, no user
        admissions: Sequence[Admission] = (await gate.admit(principals[0]),)
    else:
        gather = asyncio.gather if gate.takes_slots else gather_few
        admissions = await gather(*(gate.admit(principal) for principal in principals))
    held = _TICKETS.get()
    for admission in admissions:
        if admission.ticket is not None and held is not None:  # serve hands it back
            held.append(admission.ticket)
    refused = [admission for admission in admissions if admission.state != "ok"]
    if refused:
        raise admission_error(min(refused, key=lambda a: _SEVERITY[a.state]))


_SEVERITY = {"banned": 0, "throttled": 1, "unavailable": 2}


async def charge_input(request: web.Request, ctx: RequestContext) -> None:
    """Charges the checked input's strike to the request's principals before it is
    forwarded (a flag, or a redaction that weighs), in one atomic step with the ban and
    throttle read: raises the admission error (nothing charged, nothing forwarded) when
    one of them is banned or throttled by now. Records the charge on ``ctx`` so the final
    record adds only the rest. A blocked input is never forwarded, so never charged."""
    moderation = ctx.moderations.get("input")
    if not ctx.strikes or moderation is None or moderation.decision.blocked:
        return
    gate = request.app[ABUSE_GATE]
    weight = gate.input_weight(moderation.decision)
    principals = tuple(p for p in (ctx.principal, ctx.user)
                       if p is not None and p.key_hash is not None)
    if weight <= 0 or not principals:
        return
    try:
        charge = await gate.charge(principals, weight)
    except asyncio.CancelledError:  # the script is queued and lands: never strike twice
        ctx.charged = {p.key_hash or "": Charged(weight, 0.0) for p in principals}
        raise
    ctx.charged = dict(charge.charged)
    if charge.admission.state != "ok":
        raise admission_error(charge.admission)


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
