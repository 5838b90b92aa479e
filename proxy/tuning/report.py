"""``tune``'s printed report: ROC-AUC per label, then for each tuned label a table of
precision, recall, F1, false-positive rate and flag rate at candidate thresholds, with the
current and recommended thresholds marked."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from proxy.tuning.analysis import LabelResult, Tuning
from proxy.tuning.curves import rates_at

CANDIDATES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)


def format_report(tuning: Tuning, candidates: Sequence[float] = CANDIDATES) -> str:
    total = len(tuning.positive)
    positives = int(tuning.positive.sum())
    lines = [f"direction: {tuning.direction}   examples: {total}   should be flagged: "
             f"{positives} ({positives / total:.1%})   target: {tuning.target.describe()} "
             f"({tuning.action} threshold)", "", f"{'label':<28} ROC-AUC"]
    if tuning.recorded:
        lines.insert(1, f"{tuning.recorded} examples use the scores recorded in their events")
    lines += [f"{result.qualified:<28} {_figure(result.roc_auc)}" for result in tuning.labels]
    for result in tuning.tuned_results():
        lines += ["", *_table(tuning, result, candidates), _verdict(tuning, result)]
    return "\n".join(lines)


def marks(tuning: Tuning, result: LabelResult) -> dict[float, list[str]]:
    """threshold -> what it is (current flag, current block, recommended ...)."""
    marked: dict[float, list[str]] = {}
    for action in ("flag", "block"):
        value = getattr(result.current, action)
        if value is not None:
            marked.setdefault(value, []).append(f"current {action}")
    if result.recommended is not None:
        marked.setdefault(result.recommended, []).append(f"recommended {tuning.action}")
    return marked


def _table(tuning: Tuning, result: LabelResult, candidates: Sequence[float]) -> list[str]:
    marked = marks(tuning, result)
    thresholds = np.array(sorted({*candidates, *marked}))
    rates = rates_at(result.scores, tuning.positive, thresholds)
    lines = [f"{result.qualified}   (flagged when score >= threshold)",
             f"  {'threshold':>9} {'precision':>9} {'recall':>7} {'F1':>6} {'FPR':>6} "
             f"{'flag rate':>9}"]
    for i, threshold in enumerate(thresholds):
        note = ", ".join(marked.get(float(threshold), []))
        lines.append(f"  {threshold:>9g} {_figure(rates.precision[i]):>9} "
                     f"{_figure(rates.recall[i]):>7} {_figure(rates.f1[i]):>6} "
                     f"{_figure(rates.fpr[i]):>6} {_figure(rates.flag_rate[i]):>9}"
                     f"{'  <- ' + note if note else ''}")
    return lines


def _verdict(tuning: Tuning, result: LabelResult) -> str:
    if result.recommended is None:
        return (f"  no threshold meets {tuning.target.describe()} for {result.qualified}: "
                "the classifier cannot separate these labels that well; relax the target")
    rates = rates_at(result.scores, tuning.positive, np.array([result.recommended]))
    return (f"  recommended {tuning.action} threshold {result.recommended:g}: precision "
            f"{_figure(rates.precision[0])}, recall {_figure(rates.recall[0])}, "
            f"false-positive rate {_figure(rates.fpr[0])}, "
            f"{tuning.action} rate {_figure(rates.flag_rate[0])}")


def _figure(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.3f}"
