"""Detoxify's pure parts: windows, batch scheduling, label names, options (no torch)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest

from classifiers.base import ClassifierConfigError
from classifiers.detoxify.labels import VOCABULARY, normalise
from classifiers.detoxify.options import parse_options
from classifiers.sequence.scheduling import BatchBounds, next_batch
from classifiers.sequence.windows import WindowPlan, max_per_label

PLAN = WindowPlan(size=10, overlap=2, max_tokens=100, max_windows=50, prefix=(-1,), suffix=(-2,))


def test_short_text_is_one_window_with_special_tokens():
    assert PLAN.split([5, 6, 7]) == [[-1, 5, 6, 7, -2]]
    assert PLAN.split([]) == [[-1, -2]]


def test_windows_cover_every_token_and_share_the_overlap():
    ids = list(range(30))
    windows = PLAN.split(ids)
    bodies = [window[1:-1] for window in windows]
    assert all(len(window) <= PLAN.size for window in windows)
    assert sorted({token for body in bodies for token in body}) == ids
    for before, after in itertools.pairwise(bodies):
        assert before[-PLAN.overlap:] == after[:PLAN.overlap]


def test_a_text_exactly_one_window_long_is_not_split():
    assert len(PLAN.split(list(range(PLAN.body)))) == 1
    assert len(PLAN.split(list(range(PLAN.body + 1)))) == 2


def test_limits_keep_the_head_of_a_long_text():
    plan = WindowPlan(size=10, overlap=2, max_tokens=20, max_windows=2, prefix=(-1,), suffix=(-2,))
    windows = plan.split(list(range(1000)))
    assert len(windows) == 2
    assert max(token for window in windows for token in window) < 20


def test_window_plan_rejects_an_overlap_as_large_as_the_window():
    with pytest.raises(ValueError, match="overlap"):
        WindowPlan(size=4, overlap=2, max_tokens=10, max_windows=2, prefix=(0,), suffix=(0,))


def test_max_per_label_takes_each_labels_highest_window():
    assert max_per_label([[0.1, 0.9], [0.8, 0.2], [0.3, 0.3]]) == [0.8, 0.9]


@dataclass
class Waiting:
    size: int
    arrived: float = 0.0


BOUNDS = BatchBounds(max_rows=4, max_tokens=100, overdue_s=1.0)


def test_next_batch_takes_the_shortest_rows_first():
    rows = [Waiting(50), Waiting(5), Waiting(40), Waiting(6)]
    assert [row.size for row in next_batch(rows, 0.1, BOUNDS)] == [5, 6]  # 3 x 40 > 100


def test_next_batch_bounds_rows_and_padded_tokens():
    rows = [Waiting(10) for _ in range(9)]
    assert len(next_batch(rows, 0.1, BOUNDS)) == 4
    assert len(next_batch(rows, 0.1, BatchBounds(99, 35, 1.0))) == 3  # 3 x 10 <= 35 < 4 x 10


def test_next_batch_counts_rows_at_their_padded_width():
    rows = [Waiting(5) for _ in range(8)]
    assert len(next_batch(rows, 0.1, BatchBounds(99, 32, 1.0))) == 6  # 6 x 5 <= 32 < 7 x 5
    assert len(next_batch(rows, 0.1, BatchBounds(99, 32, 1.0, pad_multiple=8))) == 4  # 4 x 8


def test_next_batch_always_takes_one_row_even_over_the_token_bound():
    assert [row.size for row in next_batch([Waiting(500)], 0.1, BOUNDS)] == [500]


def test_an_overdue_long_row_goes_before_fresh_short_ones():
    old_long, fresh_short = Waiting(90, arrived=0.0), Waiting(5, arrived=1.9)
    assert next_batch([fresh_short, old_long], 2.0, BOUNDS) == [old_long]


def test_labels_of_every_published_model_map_to_one_vocabulary():
    original = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
    assert list(normalise(original)) == list(VOCABULARY[:6])
    assert normalise(original)["identity_attack"] == 5
    unbiased = ["toxicity", "severe_toxicity", "obscene", "identity_attack", "insult", "threat",
                "sexual_explicit", "male", "female", "muslim"]
    assert list(normalise(unbiased)) == list(VOCABULARY)
    assert normalise(unbiased)["threat"] == 5
    assert normalise(["male", "female"]) == {}


@pytest.mark.parametrize(("options", "named"), [
    ({"modle": "original"}, "modle"),
    ({"model": "huge"}, "model"),
    ({"max_batch": 0}, "max_batch"),
    ({"quantize": "int8"}, "quantize: int8 needs runtime: onnx"),
    ({"window_tokens": 64, "window_overlap": 40}, "window_overlap"),
])
def test_bad_options_name_the_option(options, named):
    with pytest.raises(ClassifierConfigError, match="check 'tox'") as caught:
        parse_options("tox", options)
    assert named in str(caught.value)


def test_default_options_are_valid():
    options = parse_options("tox", {})
    assert (options.model, options.runtime, options.device) == ("original", "torch", "cpu")

