"""The HTTP server under the proxy app: what happens to a connection before, and around,
the request a route sees.

aiohttp 3.14 has no header read timeout (its keep-alive timer closes a connection idle
between requests, after an hour by default) and answers the errors it catches itself in
plain text that quotes the request's bytes. ``ProxyRunner`` serves the app (create_app)
with ``ProxyConnection``, aiohttp's RequestHandler with:

- a header read timeout: a request's line and headers must all arrive within
  ``server.header_read_timeout_s`` of its first byte (of the connection's opening, for the
  first request); a slower client is closed without an answer and counted in
  ``safety_proxy_slow_clients_total{phase="headers"}``. The idle time between two requests
  on a kept-alive connection is aiohttp's keep-alive timeout, not this one;
- every error aiohttp answers itself (a request its parser refused, an exception past the
  middlewares, an HTTP error raised outside them) in the OpenAI error format, with a fixed
  message (protocol/http_errors.py).

The body read timeout is read_body's (routes/body.py), closing with ``close_slow_client``.

For a graceful shutdown (proxy/shutdown.py) the server keeps ``Traffic``: the requests it
is handling (their tasks, so the ones left at the end can be cut) and how many it has begun;
while the app drains (``Readiness.draining``) every request is answered with
``Connection: close``, so that kept-alive clients reconnect, through the load balancer, to
a replica that is not shutting down.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiohttp import web
from aiohttp.http_parser import RawRequestMessage

from proxy.config.schema import ServerConfig
from proxy.observability.metrics import Metrics
from proxy.protocol.errors import json_response
from proxy.protocol.http_errors import http_error
from proxy.resources import METRICS, READINESS, SERVER_CONFIG

log = structlog.get_logger("safety_proxy.server")


class ProxyRunner(web.AppRunner):
    """The runner for the proxy app. By default a handler is cancelled when its client
    leaves (the cancellation reaches the upstream), and there is no access log (the
    request's log line is the proxy's own)."""

    def __init__(self, app: web.Application, **kwargs: Any) -> None:
        kwargs.setdefault("handler_cancellation", True)
        kwargs.setdefault("access_log", None)
        super().__init__(app, **kwargs)

    async def _make_server(self) -> web.Server:
        base = await super()._make_server()  # starts the app; aiohttp's server for it
        return ProxyServer(base, self.app)

    @property
    def traffic(self) -> Traffic:
        """The requests being handled (the runner must be set up)."""
        assert isinstance(self.server, ProxyServer)
        return self.server.traffic


@dataclass(slots=True)
class Traffic:
    """The requests a server is handling (the tasks that run their handlers, a stream's
    whole relay included) and how many it has begun since it started."""

    begun: int = 0
    handlers: set[asyncio.Task[Any]] = field(default_factory=set)
    idle: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def in_flight(self) -> int:
        return len(self.handlers)

    def enter(self, task: asyncio.Task[Any]) -> None:
        self.begun += 1
        self.handlers.add(task)
        self.idle.clear()

    def leave(self, task: asyncio.Task[Any]) -> None:
        self.handlers.discard(task)
        if not self.handlers:
            self.idle.set()

    def cut(self) -> int:
        """Cancels every handler still running (their clients' connections close without
        the rest of the answer); returns how many."""
        for task in self.handlers:
            task.cancel()
        return len(self.handlers)


Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


class ProxyServer(web.Server):
    """``base``, aiohttp's server for the app, with ProxyConnection protocols, its handlers
    counted in ``traffic``."""

    def __init__(self, base: web.Server, app: web.Application) -> None:
        self._handler: Handler = base.request_handler
        self._factory = base.request_factory
        super().__init__(self._counted, request_factory=self._request,
                         handler_cancellation=base.handler_cancellation, loop=base._loop,
                         **base._kwargs)
        self.app = app
        self.traffic = Traffic()
        self.traffic.idle.set()

    def __call__(self) -> web.RequestHandler:
        return ProxyConnection(self, self.app, loop=self._loop, **self._kwargs)

    async def _counted(self, request: web.BaseRequest) -> web.StreamResponse:
        task = asyncio.current_task(self._loop)  # with its loop: no getpid system call
        assert task is not None  # aiohttp runs each request's handler in a task of its own
        self.traffic.enter(task)
        try:
            return await self._handler(request)
        finally:
            self.traffic.leave(task)

    def _request(self, message: RawRequestMessage, *args: Any) -> web.BaseRequest:
        """The app's request; while it drains, one its answer closes the connection after."""
        if self.app[READINESS].draining:
            message = message._replace(should_close=True)
        return self._factory(message, *args)


class ProxyConnection(web.RequestHandler):
    """One client connection. Reads aiohttp's queue of parsed requests (``_messages``) and
    its wait for the next one (``_waiter``): tests/proxy/test_robustness.py pins both."""

    __slots__ = ("_app", "_header_timer")

    def __init__(self, manager: web.Server, app: web.Application, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._app = app
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._start_header_timer()  # the first request is due from the opening

    def connection_lost(self, exc: BaseException | None) -> None:
        self._stop_header_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._messages:  # a request's line and headers are in (or what the parser refused)
            self._stop_header_timer()
        elif data and self._between_requests():  # the next request has begun
            self._start_header_timer()

    def _between_requests(self) -> bool:
        return self._waiter is not None and not self._waiter.done()

    def _start_header_timer(self) -> None:
        if self._header_timer is None:
            timeout = server_config(self._app).header_read_timeout_s
            self._header_timer = self._loop.call_later(timeout, self._headers_late)

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if self._between_requests() and not self._messages:
            close_slow_client(self, self._app[METRICS], "headers")

    def handle_error(self, request: web.BaseRequest, status: int = 500,
                     exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        """aiohttp's answer to an error it caught itself: a request its parser refused, an
        exception past the middlewares. ``message``, which quotes the request, is neither
        sent nor logged."""
        if request.writer.output_size > 0:  # an answer was begun: only closing is left
            raise ConnectionError("an answer was already begun")
        if status >= 500:
            log.error("unhandled_error", status=status, exc_info=exc)
        else:
            log.info("bad_http_request", status=status, error=exc and type(exc).__name__)
        response = json_response(http_error(status, exc), status=status)
        response.force_close()
        return response

    async def finish_response(self, request: web.BaseRequest, resp: web.StreamResponse,
                              start_time: float | None) -> tuple[web.StreamResponse, bool]:
        """An HTTP error raised outside the middlewares (a refused ``Expect``) is answered in
        the OpenAI error format too."""
        if (resp.status >= 400 and isinstance(resp, web.HTTPException)
                and resp.content_type != "application/json"):
            resp = json_response(http_error(resp.status), status=resp.status)
        return await super().finish_response(request, resp, start_time)


def close_slow_client(connection: web.RequestHandler, metrics: Metrics, phase: str) -> None:
    """Closes a client that sends its request too slowly (``phase``: its ``headers`` or its
    ``body``), without an answer, and counts it."""
    metrics.slow_clients.labels(phase).inc()
    log.info("slow_client", phase=phase)
    connection.force_close()


def server_config(app: web.Application) -> ServerConfig:
    """The live config's ``server`` section (hot-reloaded), or the one the app was created
    with while its first snapshot loads."""
    holder = app[READINESS].holder
    return holder.current.config.server if holder is not None else app[SERVER_CONFIG]
