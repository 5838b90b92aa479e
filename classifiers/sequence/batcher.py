"""Micro-batching on two threads: one prepares (tokenizes), one runs the model.

Contract: ``await batcher.submit(texts)`` returns one score vector per text, in order.
Everything CPU-bound runs off the event loop, which only queues requests and settles
futures. The preparing thread takes every request that has arrived, tokenizes all their
texts in one tokenizer call (when the bounds are ``pipelined``, for a GPU: in calls of
PIPELINE_CHUNK texts), cuts them into windows and adds those to a pool; the model
thread takes each forward pass from the pool (waiting at most ``max_wait_ms`` after an idle
spell, shortest windows first, bounded rows and padded tokens: classifiers/sequence/pool.py)
and settles each request when its last window is scored. So the next batch is tokenized
while the device runs this one, and a GPU is not left waiting on the tokenizer.

Failure modes all surface as ClassifierError, so the check's ``on_error`` applies: a full
queue (``max_queue`` texts outstanding) and a stalled model (one batch running longer than
``stall_after_s``) fail at once; a request waiting longer than ``request_timeout_s`` fails;
a text the tokenizer rejects fails its own request only. A cancelled caller just drops out:
its windows not yet batched are discarded and its results, if computed, are ignored;
nobody else's batch is affected.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from classifiers.base import ClassifierError
from classifiers.sequence.inbox import Inbox
from classifiers.sequence.pending import (
    BatcherStats,
    Request,
    Row,
    Vector,
    mark_cancelled,
    settle,
)
from classifiers.sequence.pool import WindowPool
from classifiers.sequence.scheduling import BatchBounds
from classifiers.sequence.windows import max_per_label

# Texts per tokenizer call when pipelined: a burst is handed to the device in parts this
# size, so it runs the first while the next is tokenized (measured: bench/classifier_speed.py).
PIPELINE_CHUNK = 32


class WindowedModel(Protocol):
    """What the threads run: windows per text (the preparing thread), then a score vector
    per window (the model thread). The two are called concurrently, so they share no
    mutable state."""

    def windows(self, texts: list[str]) -> list[list[list[int]]]: ...

    def score(self, rows: list[list[int]]) -> list[Vector]: ...


class TokenBatcher:
    def __init__(
        self,
        model: WindowedModel,
        *,
        name: str,
        bounds: BatchBounds,
        max_wait_ms: float = 1.0,
        max_queue: int = 1024,
        request_timeout_s: float = 30.0,
        stall_after_s: float = 10.0,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self._model, self._name, self._bounds = model, name, bounds
        self._timeout, self._stall_after = request_timeout_s, stall_after_s
        self._inbox = Inbox(name, max_queue)
        self._pool = WindowPool(bounds, max_wait_ms / 1000.0)
        self._busy_since: float | None = None  # written by the model thread, read by the loop
        self._threads = (
            threading.Thread(target=self._run, args=(self._prepare,), daemon=True,
                             name=f"tokenize-{name}"),
            threading.Thread(target=self._run, args=(self._infer,), daemon=True,
                             name=f"inference-{name}"),
        )
        self.stats = BatcherStats()
        self._on_batch = on_batch  # called on the model thread with each pass's rows

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    async def close(self) -> None:
        """Fails what is outstanding and stops the threads (a hung forward pass is abandoned)."""
        for request in self._inbox.stop():
            settle(request.future, ClassifierError(f"{self._name}: classifier closed"))
        self._pool.stop()
        for thread in self._threads:
            if thread.is_alive():
                await asyncio.to_thread(thread.join, 5.0)

    async def submit(self, texts: Sequence[str]) -> list[Vector]:
        if not texts:
            return []
        self._refuse_if_stalled()
        loop = asyncio.get_running_loop()
        request = Request(texts, loop.create_future(), loop)
        self._inbox.put(request)
        request.future.add_done_callback(lambda f: mark_cancelled(request, f))
        try:
            return await asyncio.wait_for(request.future, self._timeout)
        except TimeoutError:
            raise ClassifierError(
                f"{self._name}: no scores within {self._timeout:g}s (model overloaded or hung)"
            ) from None

    def _refuse_if_stalled(self) -> None:
        busy_since = self._busy_since
        if busy_since is not None and time.monotonic() - busy_since > self._stall_after:
            raise ClassifierError(
                f"{self._name}: model stalled (one batch has run for over {self._stall_after:g}s)"
            )

    # ---- the two threads -------------------------------------------------------------------

    def _run(self, loop: Callable[[], None]) -> None:
        try:
            loop()
        finally:  # stopping, or a bug here: nobody may be left waiting for these threads
            self._pool.stop()
            for request in self._inbox.stop():
                self._finish(request, ClassifierError(f"{self._name}: inference thread stopped"),
                             force=True)

    def _prepare(self) -> None:
        while (arrivals := self._inbox.take()) is not None:
            live = [request for request in arrivals if self._live(request)]
            limit = PIPELINE_CHUNK if self._bounds.pipelined else sum(len(r.texts) for r in live)
            for part in _chunks(live, limit) if live else [[]]:
                texts = sum(len(request.texts) for request in part)
                self._pool.expect(texts)
                rows: list[Row] = []
                try:
                    rows = self._rows_of(part) if part else []
                finally:
                    self._pool.add(rows, texts)

    def _infer(self) -> None:
        while (batch := self._pool.take(self._live)) is not None:
            self._forward(batch)

    def _rows_of(self, requests: list[Request]) -> list[Row]:
        """The windows of all the requests' texts, from one tokenizer call; when it fails,
        each request is tried alone so that only the one with the bad text fails."""
        try:
            windows = self._model.windows([text for r in requests for text in r.texts])
        except Exception as exc:
            if len(requests) == 1:
                self._finish(requests[0], _model_error(self._name, "tokenizing", exc))
                return []
            return [row for request in requests for row in self._rows_of([request])]
        rows: list[Row] = []
        start = 0
        for request in requests:
            rows += self._rows(request, windows[start : start + len(request.texts)])
            start += len(request.texts)
        return rows

    def _rows(self, request: Request, windows: list[list[list[int]]]) -> list[Row]:
        now = time.monotonic()
        request.window_scores = [[None] * len(text_windows) for text_windows in windows]
        request.remaining = sum(len(text_windows) for text_windows in windows)
        return [Row(request, text, window, ids, now)
                for text, text_windows in enumerate(windows)
                for window, ids in enumerate(text_windows)]

    def _forward(self, batch: list[Row]) -> None:
        self._busy_since = time.monotonic()
        try:
            vectors = self._model.score([row.ids for row in batch])
        except Exception as exc:
            for request in {id(row.request): row.request for row in batch}.values():
                self._finish(request, _model_error(self._name, "scoring", exc))
            return
        finally:
            self._busy_since = None
        self._count_batch(batch)
        for row, vector in zip(batch, vectors, strict=True):
            request = row.request
            if request.finished:
                continue
            request.window_scores[row.text][row.window] = vector
            request.remaining -= 1
            if request.remaining == 0:
                merged = [max_per_label(windows) for windows in request.window_scores]  # type: ignore[arg-type]
                self._finish(request, merged)

    def _count_batch(self, batch: list[Row]) -> None:
        self.stats.batches += 1
        self.stats.rows += len(batch)
        self.stats.padded_tokens += len(batch) * self._bounds.width(max(r.size for r in batch))
        if self._on_batch is not None:
            self._on_batch(len(batch))

    def _live(self, request: Request) -> bool:
        """False once finished; a cancelled request is finished here (its queue slot freed)."""
        if request.cancelled and not request.finished:
            self._finish(request, None)
        return not request.finished

    def _finish(self, request: Request, outcome: list[Vector] | Exception | None, *,
                force: bool = False) -> None:
        request.finished = True
        if not self._inbox.done(request) and not force:
            return  # abandoned by close(), which has already failed it
        if outcome is not None:
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting
                request.loop.call_soon_threadsafe(settle, request.future, outcome)


def _chunks(requests: list[Request], limit: int) -> list[list[Request]]:
    """``requests`` in order, cut into parts of at most ``limit`` texts (a request with
    more is a part of its own)."""
    parts: list[list[Request]] = [[]]
    texts = 0
    for request in requests:
        if parts[-1] and texts + len(request.texts) > limit:
            parts.append([])
            texts = 0
        parts[-1].append(request)
        texts += len(request.texts)
    return parts


def _model_error(name: str, stage: str, exc: Exception) -> ClassifierError:
    return ClassifierError(f"{name}: model failed while {stage}: {type(exc).__name__}: {exc}")
