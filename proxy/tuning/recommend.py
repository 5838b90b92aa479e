"""Recommends a threshold for a stated target, on the data it is computed from.

Target: precision at least P, or false-positive rate at most F. Among the thresholds that
meet it, the one with the highest recall wins (ties: the highest threshold, which flags no
more). The threshold written flags exactly the same texts as that point: the shortest
decimal near the middle of the gap between the lowest flagged score and the highest
unflagged one (a margin both ways for unseen texts), so the target still holds for the
number an operator pastes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from proxy.tuning.curves import Bools, Floats, Rates, curve, rates_at


@dataclass(frozen=True, slots=True)
class Target:
    min_precision: float | None = None
    max_fpr: float | None = None

    def __post_init__(self) -> None:
        if (self.min_precision is None) == (self.max_fpr is None):
            raise ValueError("give exactly one of min_precision and max_fpr")

    def met(self, rates: Rates) -> Bools:
        if self.min_precision is not None:
            return np.nan_to_num(rates.precision, nan=-1.0) >= self.min_precision
        return np.nan_to_num(rates.fpr, nan=0.0) <= self.max_fpr  # type: ignore[operator]

    def describe(self) -> str:
        if self.min_precision is not None:
            return f"precision >= {self.min_precision:g}"
        return f"false-positive rate <= {self.max_fpr:g}"


def recommend(scores: Floats, positive: Bools, target: Target) -> float | None:
    """The threshold to use, or None when no threshold meets the target."""
    points = curve(scores, positive)
    meets = np.flatnonzero(target.met(points))
    if len(meets) == 0:
        return None
    best = int(meets[np.argmax(points.recall[meets])])
    high = float(points.threshold[best])
    low = float(points.threshold[best + 1]) if best + 1 < len(points.threshold) else None
    threshold = _middle_decimal(low, high)
    if not bool(target.met(rates_at(scores, positive, np.array([threshold])))[0]):
        return high  # a rounding surprise: the observed score itself is exact
    return threshold


def _middle_decimal(low: float | None, high: float) -> float:
    """The middle of (low, high], rounded to the fewest digits that keep it inside; no
    observed score lies in between. Without a lower score, the gap starts at 0."""
    if low is None:
        if high <= 0.0:
            return 0.0
        low = 0.0
    middle = (low + high) / 2
    for digits in range(1, 16):
        nearest = round(middle * 10**digits)
        inside: list[float] = [k / 10**digits for k in (nearest - 1, nearest, nearest + 1)
                               if low < k / 10**digits <= high]
        if inside:
            return min(inside, key=lambda candidate: abs(candidate - middle))
    return high
