"""Classification figures of one score against binary ground truth (numpy only).

A text is flagged at threshold ``t`` when its score is at or above ``t`` (the policy's
rule). Precision is undefined (NaN) where nothing is flagged; so are ROC-AUC and the
rates whose denominator is empty (no positives, or no negatives).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float64]
Bools = NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Rates:
    """Counts at one threshold and the figures derived from them (arrays or scalars)."""

    threshold: Floats
    tp: Floats
    fp: Floats
    positives: int
    negatives: int

    @property
    def flagged(self) -> Floats:
        return self.tp + self.fp

    @property
    def precision(self) -> Floats:
        return _ratio(self.tp, self.flagged)

    @property
    def recall(self) -> Floats:
        return _ratio(self.tp, np.float64(self.positives))

    @property
    def fpr(self) -> Floats:
        return _ratio(self.fp, np.float64(self.negatives))

    @property
    def flag_rate(self) -> Floats:
        return _ratio(self.flagged, np.float64(self.positives + self.negatives))

    @property
    def f1(self) -> Floats:
        return _ratio(2 * self.tp, self.flagged + self.positives)


def curve(scores: Floats, positive: Bools) -> Rates:
    """Rates at every distinct observed score, thresholds descending."""
    order = np.argsort(-scores, kind="mergesort")
    ranked, truth = scores[order], positive[order]
    last_of_value = np.r_[np.flatnonzero(np.diff(ranked)), len(ranked) - 1]
    tp = np.cumsum(truth)[last_of_value].astype(np.float64)
    fp = np.cumsum(~truth)[last_of_value].astype(np.float64)
    return Rates(ranked[last_of_value], tp, fp, int(positive.sum()), int((~positive).sum()))


def rates_at(scores: Floats, positive: Bools, thresholds: Floats) -> Rates:
    flagged = scores[None, :] >= np.asarray(thresholds, dtype=np.float64)[:, None]
    tp = (flagged & positive).sum(axis=1).astype(np.float64)
    fp = (flagged & ~positive).sum(axis=1).astype(np.float64)
    return Rates(np.asarray(thresholds, dtype=np.float64), tp, fp,
                 int(positive.sum()), int((~positive).sum()))


def roc_auc(scores: Floats, positive: Bools) -> float:
    """Probability that a random positive outscores a random negative (ties count half)."""
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = _average_ranks(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _average_ranks(values: Floats) -> Floats:
    order = np.argsort(values, kind="mergesort")
    _, first, counts = np.unique(values[order], return_index=True, return_counts=True)
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat(first + (counts + 1) / 2, counts)
    return ranks


def _ratio(numerator: Floats, denominator: Floats | np.float64) -> Floats:
    with np.errstate(divide="ignore", invalid="ignore"):
        result: Floats = np.where(denominator > 0, numerator / np.maximum(denominator, 1), np.nan)
    return result
