"""CUDA graphs' shape buckets, tested where no GPU is.

A graph replays fixed shapes, so a pass is padded up to a bucket: more rows (one unmasked
padding token each) and wider rows (masked positions). That must change shapes, never the
scores of the real rows: checked here by running the tiny real models of
transformers_fixtures.py eagerly on the padded inputs. Tolerance 1e-5, as in
test_transformers.py: the same float32 module on the same token ids, where padding only
reorders float32 additions. The capture itself needs a GPU (bench/gpu_check.sh measures it
and its scores against float32); here a capture that fails leaves the model running
eagerly, with the same scores.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from classifiers import registry
from classifiers.base import ClassifierConfigError
from classifiers.sequence.cuda_graphs import Buckets, GraphedScorer
from tests.classifiers.test_transformers import TEXTS
from tests.classifiers.transformers_fixtures import tiny_model

pytest.importorskip("torch")
pytest.importorskip("transformers")


def buckets(window: int = 512, max_rows: int = 256, max_tokens: int = 65536) -> Buckets:
    return Buckets(max_rows=max_rows, max_tokens=max_tokens, window=window, pad_id=0)


@pytest.mark.parametrize(("rows", "width", "shape"), [
    (1, 13, (1, 16)), (3, 40, (4, 48)), (200, 40, (256, 48)), (64, 64, (64, 64)),
    (129, 500, (129, 512)),  # 256 x 512 would pass max_tokens: as few rows as fit
    (100, 200, (128, 256)), (300, 8, (300, 16))])  # never fewer rows than the pass
def test_a_pass_is_padded_up_to_a_few_shapes(rows, width, shape):
    assert buckets().shape(rows, width) == shape


def test_every_pass_the_batcher_can_form_has_a_graph_captured_at_start():
    """The cuda defaults (256 rows, 65536 padded tokens, widths padded to 8): every pass
    within them falls in a listed bucket, but one wider than its bucket's token bound
    (150 rows of 400 tokens: 512 x 150 is past 65536), which gets a shape of its own."""
    fit = buckets()
    listed = fit.shapes()
    assert len(listed) == len(set(listed)) <= 128  # GraphedScorer's max_graphs
    assert listed[0] == (128, 512) and listed[-1] == (1, 16)  # the largest captured first
    assert all(rows * width <= 65536 for rows, width in listed)
    outside = set()
    for width in range(8, 513, 8):
        for rows in range(1, 257):
            if rows * width <= 65536 and (shape := fit.shape(rows, width)) not in listed:
                assert shape == (rows, next(w for w in fit.widths if w >= width))
                assert shape[0] * shape[1] > 65536
                outside.add(shape)
    assert (150, 512) in outside and len(outside) < 200


def test_the_widest_bucket_is_the_models_window():
    narrow = buckets(window=130)
    assert narrow.widths == (16, 32, 48, 64, 96, 128, 130)
    assert narrow.shape(2, 129) == (2, 130)


def test_padding_rows_and_positions_keeps_the_inputs_and_masks_the_rest():
    ids = np.array([[5, 6, 7], [8, 9, 0]])
    mask = np.array([[1, 1, 1], [1, 1, 0]])
    padded = Buckets(max_rows=8, max_tokens=512, window=512, pad_id=3).pad(
        {"input_ids": ids, "attention_mask": mask}, (4, 16))
    assert padded["input_ids"].shape == padded["attention_mask"].shape == (4, 16)
    assert (padded["input_ids"][:2, :3] == ids).all() and (padded["input_ids"][2:] == 3).all()
    assert (padded["attention_mask"][:2, :3] == mask).all()
    assert padded["attention_mask"][:2, 3:].sum() == 0
    # Each extra row attends to one token: no all-masked row (0/0 in attention's softmax).
    assert padded["attention_mask"][2:].tolist() == [[1] + [0] * 15] * 2


def engine_of(kind: str):
    classifier = registry.build("transformers", "hf", {"model": str(tiny_model(kind))})
    return classifier.build_engine()


@pytest.mark.parametrize("kind", ["guard", "toxic", "deberta"])
def test_scores_of_a_padded_pass_are_the_scores_of_the_pass(kind):
    engine = engine_of(kind)
    rows = [row for windows in engine.windows(TEXTS) for row in windows]
    inputs = engine.encoder.pad(rows)
    plain = engine.scorer(inputs)
    fit = Buckets(max_rows=256, max_tokens=65536, window=engine.encoder.plan.size,
                  pad_id=engine.encoder.pad_id)
    shape = fit.shape(*inputs["input_ids"].shape)
    assert shape != inputs["input_ids"].shape  # padding really happened
    padded = engine.scorer(fit.pad(inputs, shape))
    assert not np.isnan(padded).any()
    assert np.abs(padded[: len(rows)] - plain).max() < 1e-5


def test_a_model_that_cannot_be_captured_runs_eagerly(caplog):
    """No CUDA here, so every capture fails: the first failure turns graphs off, once."""
    engine = engine_of("guard")
    graphed = GraphedScorer(engine.scorer.model, "cpu", engine.activation,  # type: ignore[attr-defined]
                            buckets(window=engine.encoder.plan.size), engine.encoder.input_names)
    inputs = engine.encoder.pad([row for w in engine.windows(TEXTS) for row in w])
    with caplog.at_level(logging.WARNING, logger="classifiers.sequence.cuda_graphs"):
        assert graphed.capture_all() == 0
        first, second = graphed(inputs), graphed(inputs)
    assert np.array_equal(first, engine.scorer(inputs)) and np.array_equal(first, second)
    assert graphed.captured_shapes == []
    assert [r.message for r in caplog.records if "CUDA graphs off" in r.message] != []
    assert len(caplog.records) == 1


@pytest.mark.parametrize("raw", [{}, {"runtime": "onnx", "device": "cuda"}])
def test_cuda_graphs_need_the_torch_runtime_on_a_gpu(raw):
    with pytest.raises(ClassifierConfigError, match="cuda_graphs needs device: cuda"):
        registry.build("transformers", "hf", {"model": "x", "cuda_graphs": True, **raw})
