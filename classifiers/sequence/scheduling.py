"""Which waiting windows go into the next forward pass (a pure function, tested alone).

A batch is padded to its longest row, so rows of similar length are batched together:
waiting rows are taken shortest first, which also lets a short text overtake long ones.
Two bounds keep a forward pass short: ``max_rows`` and ``max_tokens`` (rows x longest row
rounded up to ``pad_multiple``: the padded size). A row that has waited ``overdue_s`` goes
first, so long texts are not starved by a steady stream of short ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar


class Waiting(Protocol):
    @property
    def size(self) -> int: ...  # tokens in the row, special tokens included

    @property
    def arrived(self) -> float: ...  # time.monotonic() when it was queued


W = TypeVar("W", bound=Waiting)


@dataclass(frozen=True, slots=True)
class BatchBounds:
    max_rows: int
    max_tokens: int
    overdue_s: float
    pad_multiple: int = 1  # rows are padded to a multiple of it (the encoder's pad_multiple)
    # False (a CPU): a pass waits for the texts being tokenized when it starts, as if one
    # thread did both. True (a GPU): a pass starts as soon as the last one ends and rows
    # wait, and texts are tokenized in chunks, so the device runs one part of a burst
    # while the next is tokenized (classifiers/sequence/pool.py).
    pipelined: bool = False

    def width(self, longest: int) -> int:
        """The padded width of a pass whose longest row has ``longest`` tokens (an upper
        bound: the encoder never pads past the model's window)."""
        return -(-longest // self.pad_multiple) * self.pad_multiple


def next_batch(rows: Sequence[W], now: float, bounds: BatchBounds) -> list[W]:
    """The rows of the next forward pass; never empty when ``rows`` is not."""
    order = sorted(rows, key=lambda row: (now - row.arrived < bounds.overdue_s, row.size))
    batch: list[W] = []
    longest = 0
    for row in order:
        padded = bounds.width(max(longest, row.size)) * (len(batch) + 1)
        if batch and (len(batch) >= bounds.max_rows or padded > bounds.max_tokens):
            break
        batch.append(row)
        longest = max(longest, row.size)
    return batch
