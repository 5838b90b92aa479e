"""Tokenized windows waiting for a forward pass, between the batcher's two threads.

The preparing thread announces the texts it has taken (``expect``), tokenizes them and adds
their windows (``add``); the model thread takes each pass's rows with :func:`next_batch`
(shortest first, bounded rows and padded tokens). Unless the bounds are ``pipelined``, a
pass waits for texts being tokenized (they would have been in it had one thread done both:
on a CPU, where a pass costs per row and tokenizing competes for the same cores); a
pipelined pass (a GPU, which costs per pass and sits idle while it waits) takes the rows
ready when the last pass ends. After an idle spell the model thread also gathers for up to
``gather_s`` (or until a full batch waits), so requests arriving together share a pass.
Rows of finished requests (cancelled, failed) are dropped as a batch is taken. One lock,
held for list operations and the ``live`` check only, never while tokenizing or running the
model.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from classifiers.sequence.pending import Request, Row
from classifiers.sequence.scheduling import BatchBounds, next_batch


class WindowPool:
    def __init__(self, bounds: BatchBounds, gather_s: float) -> None:
        self._bounds, self._gather_s = bounds, gather_s
        self._cond = threading.Condition()
        self._rows: list[Row] = []
        self._preparing = 0  # texts taken by the preparing thread, not yet added
        self._stopping = False

    def expect(self, texts: int) -> None:
        """``texts`` are being tokenized; every call is followed by ``add(..., texts)``."""
        with self._cond:
            self._preparing += texts

    def add(self, rows: list[Row], texts: int) -> None:
        """The windows of ``texts`` texts announced by ``expect`` (none if they failed)."""
        with self._cond:
            self._rows.extend(rows)
            self._preparing -= texts
            self._cond.notify()

    def take(self, live: Callable[[Request], bool]) -> list[Row] | None:
        """The next pass's rows, never empty (blocking while none wait); None once stopping.

        ``live(request)`` is False for a request whose rows are to be dropped."""
        with self._cond:
            while True:
                if self._rows:
                    if not self._bounds.pipelined:
                        self._await_preparing()
                else:
                    self._gather()
                if self._stopping:
                    return None
                self._rows = [row for row in self._rows if live(row.request)]
                if self._rows:
                    break
            batch = next_batch(self._rows, time.monotonic(), self._bounds)
            taken = {id(row) for row in batch}
            self._rows = [row for row in self._rows if id(row) not in taken]
            return batch

    def _gather(self) -> None:
        """Waits for a first row, then up to gather_s for a full batch, and past it for the
        texts being tokenized unless pipelined (lock held)."""
        self._cond.wait_for(lambda: self._rows or self._stopping)
        deadline = time.monotonic() + self._gather_s
        while not self._stopping and len(self._rows) < self._bounds.max_rows:
            if (left := deadline - time.monotonic()) > 0:
                self._cond.wait(left)
            elif self._preparing and not self._bounds.pipelined:
                self._cond.wait()
            else:
                return

    def _await_preparing(self) -> None:
        """Waits for the texts being tokenized, unless a full batch already waits."""
        self._cond.wait_for(lambda: self._stopping or not self._preparing
                            or len(self._rows) >= self._bounds.max_rows)

    def stop(self) -> None:
        """Wakes the model thread for good; the rows left are abandoned (their requests are
        failed by whoever stops the batcher)."""
        with self._cond:
            self._stopping = True
            self._rows = []
            self._cond.notify_all()
