"""Long texts as overlapping token windows, scored separately and merged by maximum.

A model sees at most ``size`` tokens (its position limit), special tokens included. A longer
text is cut into windows that share ``overlap`` tokens, so a phrase on a boundary is seen
whole by one of them, and each label takes its highest score over the windows: an insult
after 600 polite tokens scores as high as the insult alone. Only the first ``max_tokens``
tokens and at most ``max_windows`` windows of a text are scored (the head is kept); these
bound the cost of one text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class WindowPlan:
    size: int  # tokens per window, special tokens included
    overlap: int
    max_tokens: int
    max_windows: int
    prefix: tuple[int, ...] = ()  # special tokens around every window, e.g. [CLS] ... [SEP]
    suffix: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.body < 1 or self.overlap >= self.body:
            raise ValueError(f"window of {self.size} tokens cannot overlap by {self.overlap}")

    @property
    def body(self) -> int:
        """Text tokens per window."""
        return self.size - len(self.prefix) - len(self.suffix)

    def split(self, token_ids: Sequence[int]) -> list[list[int]]:
        """The model inputs for one text (at least one window, even for an empty text)."""
        ids = list(token_ids[: self.max_tokens])
        step = self.body - self.overlap
        starts = [0]
        while starts[-1] + self.body < len(ids) and len(starts) < self.max_windows:
            starts.append(starts[-1] + step)
        return [[*self.prefix, *ids[start : start + self.body], *self.suffix] for start in starts]


def max_per_label(window_scores: Sequence[Sequence[float]]) -> list[float]:
    """Element-wise maximum over a text's windows (each a score per label)."""
    return [max(column) for column in zip(*window_scores, strict=True)]
