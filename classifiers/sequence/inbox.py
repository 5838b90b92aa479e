"""The requests a batcher has accepted and not yet finished, shared by two threads.

The event loop puts requests in (refused when stopping or when ``max_texts`` texts are
already outstanding: backpressure); the preparing thread takes them out as they come, and
each one is marked done exactly once. Everything here holds one
lock for a few operations only, never while a model runs.
"""

from __future__ import annotations

import threading

from classifiers.base import ClassifierError, Overloaded
from classifiers.sequence.pending import Request


class Inbox:
    def __init__(self, name: str, max_texts: int) -> None:
        self._name, self._max_texts = name, max_texts
        self._cond = threading.Condition()
        self._new: list[Request] = []
        self._outstanding: set[Request] = set()
        self._texts = 0  # in outstanding requests
        self.stopping = False

    def put(self, request: Request) -> None:
        with self._cond:
            if self.stopping:
                raise ClassifierError(f"{self._name}: classifier is not running")
            if self._texts + len(request.texts) > self._max_texts:
                raise Overloaded(
                    f"{self._name}: queue full ({self._texts} texts waiting, "
                    f"max_queue {self._max_texts})"
                )
            self._texts += len(request.texts)
            self._outstanding.add(request)
            self._new.append(request)
            self._cond.notify()

    def take(self) -> list[Request] | None:
        """Every new request (blocking until there is one); None once stopping."""
        with self._cond:
            self._cond.wait_for(lambda: self._new or self.stopping)
            if self.stopping:
                return None
            arrivals, self._new = self._new, []
            return arrivals

    def done(self, request: Request) -> bool:
        """Frees the request's queue slots; False if it was already done or abandoned."""
        with self._cond:
            if request not in self._outstanding:
                return False
            self._outstanding.remove(request)
            self._texts -= len(request.texts)
            return True

    def stop(self) -> list[Request]:
        """Refuses new requests, wakes the thread, and hands back what was outstanding."""
        with self._cond:
            self.stopping = True
            abandoned, self._outstanding, self._texts = list(self._outstanding), set(), 0
            self._cond.notify_all()
            return abandoned
