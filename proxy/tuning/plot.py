"""The PNG ``tune`` writes: per tuned label, the precision-recall curve (left) and
precision, recall, false-positive rate and flag rate against the threshold (right), with
the current and recommended thresholds marked. Needs matplotlib (the ``tune`` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from proxy.tuning.analysis import LabelResult, Tuning
from proxy.tuning.curves import curve, rates_at
from proxy.tuning.report import marks

_GRID = np.linspace(0.0, 1.0, 201)
_STYLES = {"current": ("tab:gray", "--"), "recommended": ("tab:red", "-")}


class PlotUnavailable(Exception):
    """matplotlib is missing; the message says how to install it."""


def write_plot(tuning: Tuning, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise PlotUnavailable(
            "the plot needs matplotlib: pip install '.[tune]' from the safety-proxy "
            "checkout (or pass --no-plot)"
        ) from None
    results = tuning.tuned_results()
    figure, axes = plt.subplots(len(results), 2, figsize=(12, 4.5 * len(results)), squeeze=False)
    for row, result in zip(axes, results, strict=True):
        _precision_recall(row[0], tuning, result)
        _rates(row[1], tuning, result)
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=100)
    plt.close(figure)


def _precision_recall(ax: Any, tuning: Tuning, result: LabelResult) -> None:
    points = curve(result.scores, tuning.positive)
    ax.plot(points.recall, points.precision, color="tab:blue")
    for threshold, names in marks(tuning, result).items():
        rates = rates_at(result.scores, tuning.positive, np.array([threshold]))
        color, _ = _STYLES[names[-1].split()[0]]
        ax.plot(rates.recall, rates.precision, "o", color=color,
                label=f"{' / '.join(names)} {threshold:g}")
    ax.legend(loc="lower left", fontsize=8)
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1.02), ylim=(0, 1.05),
           title=f"{result.qualified}: precision-recall (ROC-AUC {result.roc_auc:.3f})")
    ax.grid(alpha=0.3)


def _rates(ax: Any, tuning: Tuning, result: LabelResult) -> None:
    rates = rates_at(result.scores, tuning.positive, _GRID)
    for name in ("precision", "recall", "fpr", "flag_rate"):
        ax.plot(_GRID, getattr(rates, name), label=name.replace("_", " "))
    for threshold, names in marks(tuning, result).items():
        color, style = _STYLES[names[-1].split()[0]]
        ax.axvline(threshold, color=color, linestyle=style, linewidth=1,
                   label=f"{' / '.join(names)} {threshold:g}")
    ax.set(xlabel="threshold (flagged when score >= threshold)", ylabel="rate",
           xlim=(0, 1), ylim=(0, 1.05), title=f"{result.qualified}: rates against threshold")
    ax.legend(loc="center right", fontsize=8)
    ax.grid(alpha=0.3)
