"""``tune``'s computation: score labeled examples, then per label ROC-AUC, rates at the
current thresholds and a recommended threshold for the target. No printing here.

The tuned labels are those chosen, else those with thresholds in the direction's policy,
else every label. Every label of the scored checks gets its ROC-AUC; when labels are
chosen, only their checks are scored."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from classifiers.base import Direction
from proxy.config.schema import Thresholds
from proxy.config.snapshot import Check, Snapshot
from proxy.pipeline.views import Windowing
from proxy.tuning.curves import Bools, Floats, roc_auc
from proxy.tuning.dataset import DataError, Example
from proxy.tuning.recommend import Target, recommend
from proxy.tuning.scoring import Scorer, Unit, UnitScores


@dataclass(frozen=True, slots=True)
class LabelResult:
    check: str
    label: str
    scores: Floats  # one per example: the highest over its texts
    roc_auc: float
    current: Thresholds  # from the config (both None when the policy has none)
    recommended: float | None  # None: not tuned, or no threshold meets the target

    @property
    def qualified(self) -> str:
        return f"{self.check}.{self.label}"


@dataclass(frozen=True, slots=True)
class Tuning:
    direction: Direction
    target: Target
    action: str  # "flag" or "block": the threshold recommended
    positive: Bools
    labels: tuple[LabelResult, ...]  # every label the direction's checks return
    tuned: tuple[str, ...]  # qualified labels with a recommendation computed
    recorded: int = 0  # examples decided on scores recorded in review events

    def tuned_results(self) -> list[LabelResult]:
        return [result for result in self.labels if result.qualified in self.tuned]


async def tune(snapshot: Snapshot, examples: Sequence[Example], direction: Direction,
               target: Target, action: str, chosen: Sequence[str], scorer: Scorer) -> Tuning:
    checks, tuned = _selection(snapshot, direction, chosen)
    unit_scores = await _scores(scorer, checks, direction, examples,
                                Windowing.of(snapshot.config))
    positive = np.array([example.positive for example in examples], dtype=np.bool_)
    policy = snapshot.config.policy.for_direction(direction)
    results = []
    for check in checks:
        for label in check.classifier.labels:
            scores = np.array([each[check.name].get(label, 0.0) for each in unit_scores])
            current = policy.get(check.name, {}).get(label) or Thresholds.model_validate({})
            threshold = (recommend(scores, positive, target)
                         if f"{check.name}.{label}" in tuned else None)
            results.append(LabelResult(check.name, label, scores, roc_auc(scores, positive),
                                       current, threshold))
    recorded = sum(not example.texts for example in examples)
    return Tuning(direction, target, action, positive, tuple(results), tuned, recorded)


async def _scores(scorer: Scorer, checks: Sequence[Check], direction: Direction,
                  examples: Sequence[Example], windowing: Windowing) -> list[UnitScores]:
    """Fresh scores of the examples with texts; recorded ones for the others."""
    fresh = iter(await scorer.score(checks, direction, [
        Unit(example.texts, example.prompt) for example in examples if example.texts],
        windowing))
    return [next(fresh) if example.texts else
            {check.name: (example.recorded or {}).get(check.name, {}) for check in checks}
            for example in examples]


def _selection(snapshot: Snapshot, direction: Direction,
               chosen: Sequence[str]) -> tuple[tuple[Check, ...], tuple[str, ...]]:
    """The checks to score and the qualified labels to tune. When labels are chosen, only
    their checks are scored (a judge can be costly)."""
    checks = snapshot.checks_for(direction)
    if not checks:
        raise DataError(f"the config has no checks on {direction}")
    available = [f"{check.name}.{label}" for check in checks for label in check.classifier.labels]
    tuned = tuple(chosen) or _policy_labels(snapshot, direction) or tuple(available)
    unknown = [name for name in tuned if name not in available]
    if unknown:
        raise DataError(f"unknown label {unknown[0]!r}; {direction} labels: {available}")
    if chosen:
        owners = {name.partition(".")[0] for name in tuned}
        checks = tuple(check for check in checks if check.name in owners)
    return checks, tuned


def _policy_labels(snapshot: Snapshot, direction: Direction) -> tuple[str, ...]:
    policy = snapshot.config.policy.for_direction(direction)
    return tuple(f"{check}.{label}" for check, labels in policy.items() for label in labels)
