"""Figures and recommendations against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from proxy.tuning.curves import curve, rates_at, roc_auc
from proxy.tuning.recommend import Target, _middle_decimal, recommend

# Scores and truth of ten examples; worked by hand below.
SCORES = np.array([0.9, 0.9, 0.7, 0.7, 0.4, 0.4, 0.4, 0.0, 0.0, 0.0])
TRUTH = np.array([True, True, True, False, True, False, False, False, False, False])


def test_roc_auc_counts_ties_as_half() -> None:
    # 4 positives x 6 negatives = 24 pairs. Positives 0.9, 0.9 beat all 6: 12.
    # Positive 0.7 beats 5 and ties 1: 5.5. Positive 0.4 beats 3 and ties 2: 4. Total 21.5.
    assert roc_auc(SCORES, TRUTH) == pytest.approx(21.5 / 24)


def test_roc_auc_is_undefined_with_one_class() -> None:
    assert np.isnan(roc_auc(SCORES, np.ones(10, dtype=bool)))


def test_curve_has_one_point_per_distinct_score() -> None:
    points = curve(SCORES, TRUTH)
    assert points.threshold.tolist() == [0.9, 0.7, 0.4, 0.0]
    assert points.tp.tolist() == [2, 3, 4, 4]
    assert points.fp.tolist() == [0, 1, 3, 6]
    assert points.precision.tolist() == pytest.approx([1.0, 0.75, 4 / 7, 0.4])


def test_rates_at_thresholds_match_the_policy_rule() -> None:
    rates = rates_at(SCORES, TRUTH, np.array([0.95, 0.7, 0.5]))
    assert np.isnan(rates.precision[0])  # nothing flagged
    assert rates.recall.tolist() == [0.0, 0.75, 0.75]  # score >= 0.7 is flagged
    assert rates.fpr.tolist() == pytest.approx([0.0, 1 / 6, 1 / 6])
    assert rates.flag_rate.tolist() == pytest.approx([0.0, 0.4, 0.4])
    assert rates.f1[1] == pytest.approx(0.75)


@pytest.mark.parametrize(("target", "expected"), [
    # 0.7 is the lowest meeting it; 0.6, mid-way to the next score (0.4), flags the same
    (Target(min_precision=0.75), 0.6),
    (Target(min_precision=0.8), 0.8),   # only 0.9 meets it
    (Target(max_fpr=0.2), 0.6),
    (Target(max_fpr=0.0), 0.8),
    # anything goes: recall is full from 0.4 down, and of equal recall the highest wins
    (Target(max_fpr=1.0), 0.2),
])
def test_recommendation_maximises_recall_under_the_target(target: Target,
                                                          expected: float) -> None:
    assert recommend(SCORES, TRUTH, target) == expected


def test_no_threshold_meets_an_impossible_target() -> None:
    assert recommend(SCORES, ~TRUTH, Target(min_precision=0.9)) is None


@pytest.mark.parametrize("seed", range(20))
def test_recommendation_meets_the_target_on_random_data(seed: int) -> None:
    rng = np.random.default_rng(seed)
    truth = rng.random(300) < 0.3
    scores = np.clip(rng.normal(0.35 + 0.3 * truth, 0.2), 0, 1).round(rng.integers(2, 6))
    for target in (Target(min_precision=0.8), Target(max_fpr=0.05)):
        threshold = recommend(scores, truth, target)
        assert threshold is not None
        flagged = scores >= threshold
        if target.min_precision is not None:
            assert (flagged & truth).sum() / flagged.sum() >= 0.8
        else:
            assert (flagged & ~truth).sum() / (~truth).sum() <= 0.05
        # no lower threshold meeting the target has more recall
        for lower in np.unique(scores[scores < threshold]):
            more = scores >= lower
            precision = (more & truth).sum() / more.sum()
            fpr = (more & ~truth).sum() / (~truth).sum()
            meets = precision >= 0.8 if target.min_precision is not None else fpr <= 0.05
            assert not meets or (more & truth).sum() == (flagged & truth).sum()


def test_threshold_is_a_short_decimal_mid_gap() -> None:
    assert _middle_decimal(0.4, 0.7) == 0.6  # 0.55 rounds to 0.6
    assert _middle_decimal(0.41, 0.42) == 0.42  # 0.41 is outside; 0.42 is the bound itself
    assert _middle_decimal(0.123, 0.1234) == 0.1232
    assert _middle_decimal(0.0, 1.0) == 0.5
    assert _middle_decimal(None, 0.37) == 0.2
    assert _middle_decimal(None, 0.0) == 0.0


def test_target_needs_exactly_one_bound() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Target()
    with pytest.raises(ValueError, match="exactly one"):
        Target(min_precision=0.9, max_fpr=0.1)
