"""The records the batcher keeps for one request and one of its windows.

A Request is created on the event loop; after that only the batcher's threads write it,
except ``cancelled``, which the loop sets when the caller goes away. Results cross back to
the loop with ``call_soon_threadsafe(settle, ...)``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

Vector = list[float]


@dataclass(eq=False)
class Request:
    texts: Sequence[str]
    future: asyncio.Future[list[Vector]]
    loop: asyncio.AbstractEventLoop
    cancelled: bool = False  # written by the loop, read by the thread
    finished: bool = False  # thread only, from here down
    remaining: int = 0
    window_scores: list[list[Vector | None]] = field(default_factory=list)


@dataclass(eq=False, slots=True)
class Row:
    request: Request
    text: int
    window: int
    ids: list[int]
    arrived: float

    @property
    def size(self) -> int:
        return len(self.ids)


@dataclass(slots=True)
class BatcherStats:
    batches: int = 0
    rows: int = 0
    padded_tokens: int = 0


def mark_cancelled(request: Request, future: asyncio.Future[list[Vector]]) -> None:
    if future.cancelled():
        request.cancelled = True


def settle(future: asyncio.Future[list[Vector]], outcome: list[Vector] | Exception) -> None:
    if future.done():
        return
    if isinstance(outcome, Exception):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
