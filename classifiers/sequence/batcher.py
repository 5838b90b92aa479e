"""Micro-batching on one dedicated inference thread, bounded by rows and padded tokens.

Contract: ``await batcher.submit(texts)`` returns one score vector per text, in order.
Everything CPU-bound (tokenizing, windowing, the forward pass) runs on the batcher's own
thread, so the event loop only queues requests and settles futures. The thread gathers
requests (waiting at most ``max_wait_ms`` after an idle spell), cuts texts into windows and
forms each forward pass with :func:`next_batch` (shortest first, bounded rows and tokens).

Failure modes all surface as ClassifierError, so the check's ``on_error`` applies: a full
queue (``max_queue`` texts outstanding) and a stalled model (one batch running longer than
``stall_after_s``) fail at once; a request waiting longer than ``request_timeout_s`` fails.
A cancelled caller just drops out: its windows not yet batched are discarded and its
results, if computed, are ignored; nobody else's batch is affected.
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
from classifiers.sequence.scheduling import BatchBounds, next_batch
from classifiers.sequence.windows import max_per_label


class WindowedModel(Protocol):
    """What the thread runs: windows per text, then a score vector per window."""

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
        self._max_wait, self._timeout = max_wait_ms / 1000.0, request_timeout_s
        self._stall_after = stall_after_s
        self._inbox = Inbox(name, max_queue)
        self._busy_since: float | None = None  # written by the thread, read by the loop
        self._pool: list[Row] = []  # thread only: windows waiting for a forward pass
        self._thread = threading.Thread(target=self._run, name=f"inference-{name}", daemon=True)
        self.stats = BatcherStats()
        self._on_batch = on_batch  # called on the inference thread with each pass's rows

    def start(self) -> None:
        self._thread.start()

    async def close(self) -> None:
        """Fails what is outstanding and stops the thread (a hung forward pass is abandoned)."""
        for request in self._inbox.stop():
            settle(request.future, ClassifierError(f"{self._name}: classifier closed"))
        if self._thread.is_alive():
            await asyncio.to_thread(self._thread.join, 5.0)

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

    # ---- the inference thread -------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._serve()
        finally:  # stopping, or a bug here: nobody may be left waiting for this thread
            for request in self._inbox.stop():
                self._finish(request, ClassifierError(f"{self._name}: inference thread stopped"),
                             force=True)

    def _serve(self) -> None:
        bounds = self._bounds
        while (arrivals := self._inbox.take(idle=not self._pool, gather_s=self._max_wait,
                                            enough=bounds.max_rows)) is not None:
            for request in arrivals:
                self._admit(request)
            self._pool = [row for row in self._pool if self._live(row.request)]
            if self._pool:
                batch = next_batch(self._pool, time.monotonic(), bounds)
                taken = {id(row) for row in batch}
                self._pool = [row for row in self._pool if id(row) not in taken]
                self._forward(batch)

    def _admit(self, request: Request) -> None:
        if not self._live(request):
            return
        try:
            windows = self._model.windows(list(request.texts))
        except Exception as exc:
            self._finish(request, _model_error(self._name, "tokenizing", exc))
            return
        now = time.monotonic()
        request.window_scores = [[None] * len(text_windows) for text_windows in windows]
        request.remaining = sum(len(text_windows) for text_windows in windows)
        for text, text_windows in enumerate(windows):
            for window, ids in enumerate(text_windows):
                self._pool.append(Row(request, text, window, ids, now))

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
        self.stats.padded_tokens += len(batch) * max(row.size for row in batch)
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


def _model_error(name: str, stage: str, exc: Exception) -> ClassifierError:
    return ClassifierError(f"{name}: model failed while {stage}: {type(exc).__name__}: {exc}")
