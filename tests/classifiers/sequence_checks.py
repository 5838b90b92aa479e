"""Checks that every served sequence classifier (detoxify, transformers) must pass."""

from __future__ import annotations

import pytest

from classifiers.sequence.classifier import SequenceClassifier


async def check_highest_window_wins(classifier: SequenceClassifier, text: str,
                                    window_tokens: int) -> None:
    """A text longer than a window gets, per label, its highest window score (abs 1e-5:
    the same windows scored alone and in a batch differ by float32 rounding only), and not
    just its first window's scores."""
    [scores] = await classifier.classify([text])
    assert classifier.batcher is not None
    engine = classifier.batcher._model
    [windows] = engine.windows([text])
    per_window = [engine.score([window])[0] for window in windows]
    assert len(windows) > 4 and all(len(window) <= window_tokens for window in windows)
    expected = [max(column) for column in zip(*per_window, strict=True)]
    assert list(scores.values()) == pytest.approx(expected, abs=1e-5)
    assert list(scores.values()) != pytest.approx(per_window[0], abs=1e-3)  # not truncated
