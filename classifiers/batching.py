"""Micro-batching: gather texts from concurrent requests into one model call off the loop.

Contract: ``await batcher.submit(texts)`` returns one result per text, in order. Calls
that arrive while a batch is running are gathered (up to ``max_batch`` texts, waiting at
most ``max_wait_ms`` for more) and scored together on one dedicated thread. The queue is
bounded: when ``max_queue`` texts are waiting, ``submit`` raises ClassifierError at once
(backpressure; the check's ``on_error`` decides). A call is queued in parts of at most
``max_batch`` texts; a caller that is cancelled while waiting drops out, and its parts not
yet on the model thread are never scored (a long call that times out does not keep the
model busy); nobody else's results are affected.

Inline scoring (``inline_max_chars`` > 0, for cheap models only): a call whose texts total
at most that many characters, arriving while the batcher is idle (nothing queued, no batch
on the model thread), is scored at once on the calling thread, the event loop's. For a model
that scores a short text in a fraction of a millisecond, the hand-off to the model thread and
back costs more than the work; under load calls still queue behind a running batch and are
gathered as before. The model is never called from two threads at once: an inline call runs
only while the model thread is idle, and no batch can start while it holds the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

from classifiers.base import ClassifierError, Overloaded
from classifiers.tasks import spawn

R = TypeVar("R")


@dataclass(slots=True)
class Pending(Generic[R]):
    """A caller's texts, waiting to be scored, and the future its results go to."""

    texts: Sequence[str]
    future: asyncio.Future[list[R]]


class MicroBatcher(Generic[R]):
    def __init__(
        self,
        score_batch: Callable[[list[str]], list[R]],
        *,
        name: str,
        max_batch: int = 64,
        max_wait_ms: float = 0.0,
        max_queue: int = 4096,
        on_batch: Callable[[int], None] | None = None,
        inline_max_chars: int = 0,
    ) -> None:
        self._score_batch = score_batch
        self._name = name
        self._max_batch = max_batch
        self._max_wait = max_wait_ms / 1000.0
        self._max_queue = max_queue
        self._on_batch = on_batch
        self._inline_max_chars = inline_max_chars
        self._busy = False  # a batch is on the model thread
        self._queue: deque[Pending[R]] = deque()
        self._queued_texts = 0
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"batch-{name}")
        self._worker: asyncio.Task[None] | None = None
        self.batch_sizes: deque[int] = deque(maxlen=1024)  # recent sizes, for metrics

    def start(self) -> None:
        self._worker = spawn(self._run(), name=f"batcher-{self._name}")

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        for pending in self._queue:
            if not pending.future.done():
                pending.future.set_exception(ClassifierError(f"{self._name}: shutting down"))
        self._executor.shutdown(wait=False, cancel_futures=True)

    @property
    def queued_texts(self) -> int:
        return self._queued_texts

    async def submit(self, texts: Sequence[str]) -> list[R]:
        if not texts:
            return []
        if self._worker is None:
            raise ClassifierError(f"{self._name}: batcher not started")
        if self.runs_inline(texts):
            return self.score_inline(texts)
        if self._queued_texts + len(texts) > self._max_queue:
            raise Overloaded(f"{self._name}: queue full ({self._queued_texts} texts waiting)")
        # A long call is queued in parts of max_batch: a caller that gives up (a check's
        # timeout) leaves its unscored parts to be dropped, not run on the model thread
        # ahead of everyone queued behind it.
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[list[R]]] = []
        for start in range(0, len(texts), self._max_batch):
            futures.append(loop.create_future())
            self._queue.append(Pending(texts[start : start + self._max_batch], futures[-1]))
        self._queued_texts += len(texts)
        self._wakeup.set()
        try:
            return [result for future in futures for result in await future]
        finally:
            for future in futures:  # cancelled or failed: nothing left to score for it
                future.cancel()

    def runs_inline(self, texts: Sequence[str]) -> bool:
        """Whether a call with ``texts`` would be scored inline (module docstring): the
        batcher started and idle, and the texts short enough."""
        return (not self._busy and not self._queue and self._worker is not None
                and sum(map(len, texts)) <= self._inline_max_chars)

    def score_inline(self, texts: Sequence[str]) -> list[R]:
        """``texts`` scored now on the calling thread, as one model call; only right after
        ``runs_inline`` said so (``submit`` does both). A model's error is this call's
        ClassifierError."""
        self._observe(len(texts))
        try:
            return self._score_batch(list(texts))
        except Exception as exc:  # as a failed batch: this call only
            raise self._failure(exc) from exc

    def _observe(self, size: int) -> None:
        self.batch_sizes.append(size)
        if self._on_batch is not None:
            self._on_batch(size)

    def _failure(self, exc: Exception) -> ClassifierError:
        return ClassifierError(f"{self._name}: {type(exc).__name__}: {exc}")

    def _take_batch(self) -> list[Pending[R]]:
        batch: list[Pending[R]] = []
        size = 0
        while self._queue and (not batch or size + len(self._queue[0].texts) <= self._max_batch):
            pending = self._queue.popleft()
            self._queued_texts -= len(pending.texts)
            if pending.future.done():  # cancelled while queued
                continue
            batch.append(pending)
            size += len(pending.texts)
        return batch

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            if self._max_wait and self._queued_texts < self._max_batch:
                await asyncio.sleep(self._max_wait)
            while batch := self._take_batch():
                texts = [text for pending in batch for text in pending.texts]
                self._observe(len(texts))
                self._busy = True
                try:
                    results = await loop.run_in_executor(self._executor, self._score_batch, texts)
                except Exception as exc:  # a model failure fails this batch only
                    error = self._failure(exc)
                    for pending in batch:
                        if not pending.future.done():
                            pending.future.set_exception(error)
                    continue
                finally:
                    self._busy = False
                offset = 0
                for pending in batch:
                    end = offset + len(pending.texts)
                    if not pending.future.done():
                        pending.future.set_result(results[offset:end])
                    offset = end
