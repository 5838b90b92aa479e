"""The admin API's bearer-token check: failures logged, counted and limited per peer.

A failed check (no ``Authorization`` header: ``missing``; any other value: ``invalid``) is
answered 401, logged as one ``admin_auth_failed`` line with the peer address and the reason
(never the value given) and counted in ``safety_proxy_admin_auth_failures_total{reason}``.
A peer address with ``admin.max_auth_failures`` failures within
``admin.auth_failure_window_s`` of its first one is answered 429 with ``Retry-After`` until
that window passes, its token not even compared; those refusals are counted
(``rate_limited``) but not logged one by one, only the lock-out is (``admin_auth_locked``),
so a flood of guesses costs a bounded number of log lines. The peer is the TCP peer
(``X-Forwarded-For`` is not trusted). A success resets nothing.
"""

from __future__ import annotations

import hmac
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware

from proxy.config.state_settings import AdminConfig
from proxy.observability.metrics import Metrics
from proxy.protocol.errors import error_envelope, json_response

log = structlog.get_logger("safety_proxy.admin")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FailureLimiter:
    """Failed attempts per peer in a fixed window that opens at the peer's first failure.
    Remembers at most ``peers`` peers: past that, the least recently failed is forgotten."""

    def __init__(self, limit: int, window_s: float, peers: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window_s, self.peers, self._clock = limit, window_s, peers, clock
        self._failures: OrderedDict[str, tuple[float, int]] = OrderedDict()  # (opened, count)

    def locked_for(self, peer: str) -> float | None:
        """Seconds until ``peer`` may try again, or None when it may try now."""
        entry = self._failures.get(peer)
        if entry is None or entry[1] < self.limit:
            return None
        left = entry[0] + self.window_s - self._clock()
        return left if left > 0 else None

    def failed(self, peer: str) -> bool:
        """Counts one failure; True when it is the one that locks ``peer`` out."""
        now, entry = self._clock(), self._failures.pop(peer, None)
        if entry is None or now - entry[0] >= self.window_s:
            entry = (now, 0)
        entry = (entry[0], entry[1] + 1)
        self._failures[peer] = entry  # last in the order: the most recent
        while len(self._failures) > self.peers:
            self._failures.popitem(last=False)
        return entry[1] == self.limit


def bearer_auth(token: str, config: AdminConfig, metrics: Metrics) -> Middleware:
    """The middleware that lets a request through only with ``Authorization: Bearer
    <token>`` (compared in constant time) from a peer that is not locked out."""
    expected = f"Bearer {token}".encode()
    limiter = FailureLimiter(config.max_auth_failures, config.auth_failure_window_s,
                             config.auth_failure_peers)

    @web.middleware
    async def authorize(request: web.Request, handler: Handler) -> web.StreamResponse:
        peer = request.remote or "unknown"
        wait_s = limiter.locked_for(peer)
        if wait_s is not None:
            metrics.admin_auth_failures.labels("rate_limited").inc()
            return _too_many(wait_s)
        given = request.headers.get("Authorization")
        if given is not None and hmac.compare_digest(
                given.encode("utf-8", "surrogateescape"), expected):
            return await handler(request)
        reason = "missing" if given is None else "invalid"
        metrics.admin_auth_failures.labels(reason).inc()
        log.warning("admin_auth_failed", peer=peer, reason=reason)
        if limiter.failed(peer):
            log.warning("admin_auth_locked", peer=peer, failures=limiter.limit,
                        window_s=limiter.window_s)
        return _unauthorized()

    return authorize


def _unauthorized() -> web.Response:
    body = error_envelope("a valid admin bearer token is required", "authentication_error",
                          code="unauthorized")
    return json_response(body, status=401, headers={"WWW-Authenticate": "Bearer"})


def _too_many(wait_s: float) -> web.Response:
    body = error_envelope("too many failed admin authentications from this address; retry "
                          "later", "rate_limit_error", code="admin_auth_rate_limited")
    return json_response(body, status=429, headers={"Retry-After": str(math.ceil(wait_s))})
