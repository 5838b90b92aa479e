"""Whether the store answers, and getting it back when it does not.

The first failed operation marks the store down (``store_up`` 0, ``/readyz`` degraded) and
starts one probe task that pings with exponential backoff (reconnect_min_s doubling up to
reconnect_max_s). While down, callers skip the store instead of waiting on timeouts; the
skipped operations count as store errors too, so the error rate shows the whole outage.
When a ping succeeds the store is up again and ``on_recovered`` runs (the gate writes the
records it kept meanwhile).

An operation that began before that recovery and fails after it (it was waiting on a socket
of the old server) counts as an error but does not mark the store down again: the probe's
ping is newer news. A single dead pooled socket never gets here at all: the Redis store
resends on a fresh connection first (pipelining.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

import structlog

from classifiers.tasks import spawn
from proxy.observability.metrics import STORE_OPERATIONS, Metrics
from proxy.state.base import Store, StoreError

log = structlog.get_logger("safety_proxy.state")


class TimedOperation:
    """One timed store operation (``StoreHealth.timed``): a plain class, not a generator,
    because every request times at least one (its admission)."""

    __slots__ = ("_era", "_health", "_operation", "_started")

    def __init__(self, health: StoreHealth, operation: str) -> None:
        self._health, self._operation = health, operation
        self._started, self._era = 0.0, 0

    async def __aenter__(self) -> None:
        self._started, self._era = time.perf_counter(), self._health._recoveries

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        traceback: object) -> None:
        health = self._health
        try:
            if isinstance(exc, StoreError):
                if self._era == health._recoveries:
                    health.failed(self._operation, exc)
                else:
                    health.skipped(self._operation)  # counted; the newer successful ping stands
        finally:
            health._durations[self._operation].observe(time.perf_counter() - self._started)


class StoreHealth:
    def __init__(self, store: Store, metrics: Metrics, *, reconnect_min_s: float = 0.1,
                 reconnect_max_s: float = 5.0) -> None:
        self.store = store
        self.metrics = metrics
        self.up = True
        self.on_recovered: Callable[[], Awaitable[None]] | None = None
        self._backoff = (reconnect_min_s, reconnect_max_s)
        self._probe: asyncio.Task[None] | None = None
        self._recoveries = 0  # successful probes so far: tells an operation's era
        # label children looked up once: this runs several times per request
        self._durations = {op: metrics.store_duration.labels(op) for op in STORE_OPERATIONS}
        self._errors = {op: metrics.store_errors.labels(op) for op in STORE_OPERATIONS}
        metrics.store_up.set(1)

    def timed(self, operation: str) -> TimedOperation:
        """``async with health.timed(operation)``: times one store operation; a StoreError
        inside marks the store down (unless the store recovered since the operation
        began) and re-raises."""
        return TimedOperation(self, operation)

    def failed(self, operation: str, error: Exception) -> None:
        self._errors[operation].inc()
        if self.up:
            log.warning("store_down", store=self.store.kind, operation=operation, error=str(error))
            self.up = False
            self.metrics.store_up.set(0)
        if self._probe is None or self._probe.done():
            self._probe = spawn(self._reconnect(), name="state-store-reconnect")

    def skipped(self, operation: str) -> None:
        self._errors[operation].inc()

    async def _reconnect(self) -> None:
        delay, longest = self._backoff
        while not self.up:
            await asyncio.sleep(delay)
            delay = min(delay * 2, longest)
            try:
                await self.store.ping()
            except StoreError:
                continue
            self.up = True
            self._recoveries += 1
            self.metrics.store_up.set(1)
            log.info("store_up", store=self.store.kind)
            await self._recovered()  # may mark the store down again: then the loop goes on

    async def _recovered(self) -> None:
        if self.on_recovered is None:
            return
        try:
            await self.on_recovered()
        except Exception as exc:  # a bug here must not end reconnection for good
            log.error("store_recovery_failed", error=repr(exc))

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
