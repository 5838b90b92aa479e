"""Gathers concurrent classify calls into inference calls to a remote server.

Contract: ``await gatherer.submit(texts)`` returns one result per text, in order. Texts of
calls arriving together share one inference call: up to ``max_batch`` texts, the first of
them waiting at most ``max_wait_ms`` for others to join (a call with more texts is split into
several). The wait is taken only while another call is in flight: a lone caller on an idle
client pays none, and under load the calls in flight give the next texts time to gather. At
most ``max_concurrency`` calls are in flight; the texts behind them wait, and when
``max_queue`` texts wait, ``submit`` raises :class:`Overloaded` at once (backpressure, as
the local batchers do). A failed inference call fails the calls whose texts
it carried, with its ClassifierError, and nobody else's. A caller that is cancelled drops
out; its texts may still be sent, their scores are ignored.

Why not classifiers/batching.py's MicroBatcher: it runs a blocking scorer on one thread, one
batch at a time; here the work is I/O, and several calls are in flight on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from classifiers.base import ClassifierError, Overloaded
from classifiers.batching import Pending
from classifiers.tasks import spawn

R = TypeVar("R")


class Gatherer(Generic[R]):
    def __init__(self, call: Callable[[list[str]], Awaitable[list[R]]], *, name: str,
                 max_batch: int, max_wait_ms: float, max_queue: int,
                 max_concurrency: int, on_batch: Callable[[int], None] | None = None) -> None:
        self._call, self._name, self._on_batch = call, name, on_batch
        self._max_batch, self._max_wait = max_batch, max_wait_ms / 1000.0
        self._max_queue = max_queue
        self._slots = asyncio.Semaphore(max_concurrency)
        self._queue: deque[Pending[R]] = deque()
        self._queued_texts = 0
        self._wakeup = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        self.calls = 0  # inference calls made (for tests and metrics)

    def start(self) -> None:
        self._dispatcher = spawn(self._dispatch(), name=f"remote-gather-{self._name}")

    async def close(self) -> None:
        """Fails what waits, cancels the calls in flight and stops."""
        tasks = [t for t in (self._dispatcher, *self._in_flight) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._dispatcher = None
        while self._queue:
            _settle(self._queue.popleft().future, ClassifierError(f"{self._name}: closed"))
        self._queued_texts = 0

    async def submit(self, texts: Sequence[str]) -> list[R]:
        if not texts:
            return []
        if self._dispatcher is None:
            raise ClassifierError(f"{self._name}: remote client is not started")
        if self._queued_texts + len(texts) > self._max_queue:
            raise Overloaded(f"{self._name}: queue full ({self._queued_texts} texts waiting)")
        loop = asyncio.get_running_loop()
        parts = [Pending[R](texts[i:i + self._max_batch], loop.create_future())
                 for i in range(0, len(texts), self._max_batch)]
        self._queue.extend(parts)
        self._queued_texts += len(texts)
        self._wakeup.set()
        try:
            results = await asyncio.gather(*(part.future for part in parts))
        finally:
            for part in parts:  # a cancelled or failed caller: its queued parts are skipped
                if part.future.done() and not part.future.cancelled():
                    part.future.exception()  # seen: a second failure is not "never retrieved"
                part.future.cancel()
        return [result for part in results for result in part]

    async def _dispatch(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            if self._max_wait and self._queued_texts < self._max_batch and self._in_flight:
                await asyncio.sleep(self._max_wait)
            while self._queue:
                await self._slots.acquire()
                batch = self._take()
                if not batch:
                    self._slots.release()
                    break
                task = spawn(self._run(batch), name=f"remote-infer-{self._name}")
                self._in_flight.add(task)
                task.add_done_callback(self._in_flight.discard)

    def _take(self) -> list[Pending[R]]:
        batch: list[Pending[R]] = []
        size = 0
        while self._queue and size + len(self._queue[0].texts) <= self._max_batch:
            waiting = self._queue.popleft()
            self._queued_texts -= len(waiting.texts)
            if not waiting.future.done():  # else: its caller was cancelled
                batch.append(waiting)
                size += len(waiting.texts)
        return batch

    async def _run(self, batch: list[Pending[R]]) -> None:
        try:
            texts = [text for waiting in batch for text in waiting.texts]
            self.calls += 1
            if self._on_batch is not None:  # the proxy's batch-size metric
                self._on_batch(len(texts))
            results = await self._call(texts)
        except Exception as exc:  # the client raises ClassifierError; anything else is a bug
            error = exc if isinstance(exc, ClassifierError) else ClassifierError(
                f"{self._name}: {type(exc).__name__} in the remote client")
            for waiting in batch:
                _settle(waiting.future, error)
            return
        except asyncio.CancelledError:
            for waiting in batch:
                _settle(waiting.future, ClassifierError(f"{self._name}: closed"))
            raise
        finally:
            self._slots.release()
        offset = 0
        for waiting in batch:
            end = offset + len(waiting.texts)
            if not waiting.future.done():
                waiting.future.set_result(results[offset:end])
            offset = end


def _settle(future: asyncio.Future[list[R]], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
