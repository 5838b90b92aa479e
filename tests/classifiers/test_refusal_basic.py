"""The refusal detector's label contract (its accuracy is measured in bench/)."""

from __future__ import annotations

import pytest

from classifiers.refusal import RefusalClassifier


async def test_labels_sum_to_one_and_refusals_score_high():
    classifier = RefusalClassifier("refusal")
    answers = ["I'm sorry, but I can't help with that.", "Paris is the capital of France.", ""]
    scores = await classifier.classify(answers)
    for text_scores in scores:
        assert set(text_scores) == set(classifier.labels)
        assert sum(text_scores.values()) == pytest.approx(1.0)
    assert scores[0]["refusal"] > 0.5 > scores[1]["refusal"]
