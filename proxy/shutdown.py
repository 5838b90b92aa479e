"""Graceful shutdown of ``safety-proxy serve``, in phases, each one logged:

1. ``shutdown_started`` (the first SIGTERM or SIGINT): ``/readyz`` answers 503
   (``draining``) at once while ``/healthz`` stays 200, and every request, new ones too, is
   served as before (answered with ``Connection: close``) for ``server.drain_s``: the time
   a load balancer (a Kubernetes Service's endpoints) takes to stop routing here.
2. ``drain_finished``: the listeners close (new connections are refused) and so do idle
   kept-alive connections; the requests and streams in flight get
   ``server.shutdown_timeout_s`` to finish.
3. ``shutdown_complete``: the requests still running then are cut (their connections close
   without the rest of the answer: a stream ends without its terminal event, which clients
   report as an error), then the app's resources close (upstream pools, store, admin API).

A second signal during the drain ends it at once (phase 2 begins); one during phase 2 cuts
the requests in flight at once. The whole shutdown lasts at most drain_s +
shutdown_timeout_s and about a second (``CUT_GRACE_S``, the cut handlers' unwinding).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterable

import structlog

from classifiers.tasks import spawn
from proxy.config.schema import ServerConfig
from proxy.resources import READINESS
from proxy.server import ProxyRunner

log = structlog.get_logger("safety_proxy.shutdown")

CUT_GRACE_S = 1.0  # how long cut handlers get to unwind (their upstream calls cancelled)


class StopSignals:
    """SIGTERM and SIGINT, in the order they came: the first sets ``first``, any later one
    ``again`` (cleared by whoever acts on it)."""

    def __init__(self) -> None:
        self.first = asyncio.Event()
        self.again = asyncio.Event()
        self.names: list[str] = []

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(signum, self._received, signum)

    def _received(self, signum: int) -> None:
        self.names.append(signal.Signals(signum).name)
        if self.first.is_set():
            log.info("signal_received", signal=self.names[-1], count=len(self.names))
            self.again.set()
        self.first.set()


async def shut_down(runner: ProxyRunner, server: ServerConfig, signals: StopSignals) -> None:
    """Drains, closes and cleans ``runner`` up (see the module doc), once ``signals.first``
    is set."""
    traffic = runner.traffic
    runner.app[READINESS].draining = True
    log.info("shutdown_started", signal=signals.names[0] if signals.names else None,
             drain_s=server.drain_s, shutdown_timeout_s=server.shutdown_timeout_s,
             in_flight=traffic.in_flight)
    begun = traffic.begun
    skipped = await first_of([signals.again], server.drain_s)
    signals.again.clear()
    await close_listeners(runner)
    closing, begun_closing = traffic.in_flight, traffic.begun
    log.info("drain_finished", skipped=skipped, served_during_drain=begun_closing - begun,
             in_flight=closing)
    started = asyncio.get_running_loop().time()
    await first_of([traffic.idle, signals.again], server.shutdown_timeout_s)
    cut = traffic.cut()
    await first_of([traffic.idle], CUT_GRACE_S)
    await runner.cleanup()
    log.info("shutdown_complete", finished=closing + traffic.begun - begun_closing - cut,
             cut=cut, closing_s=round(asyncio.get_running_loop().time() - started, 3))


async def close_listeners(runner: ProxyRunner) -> None:
    """Stops accepting connections and closes the idle ones; a connection busy with a
    request closes after its answer (aiohttp's own first shutdown steps)."""
    for site in list(runner.sites):
        await site.stop()
    await asyncio.sleep(0)  # requests already received begin before idle connections close
    if runner.server is not None:
        runner.server.pre_shutdown()


async def first_of(events: Iterable[asyncio.Event], limit_s: float) -> bool:
    """Waits until one of ``events`` is set, at most ``limit_s`` seconds; whether one was."""
    waits = [spawn(event.wait(), name="shutdown-wait") for event in events]
    try:
        done, _ = await asyncio.wait(waits, timeout=limit_s,
                                     return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
    return bool(done)
