"""The ONNX Runtime path gives the torch path's scores and exports only once.

Tolerances (absolute, per label score, on the tiny random-weight model the tests build):

- fp32 ONNX against torch: 1e-4. Both run the same float32 graph; only the order of float
  additions differs (about 1e-6 relative per layer on 2 layers of width 32), and a sigmoid
  moves a score by at most a quarter of its logit's change.
- int8 against torch: 0.05. The int8 scheme (onnx_runtime.py) keeps every integer product
  sum below the int16 saturation point, so its integer arithmetic is exact on every x86-64
  CPU, with or without VNNI: the same scores everywhere, up to float rounding. What is left
  is the rounding of the quantization grids: weights per output channel to 63 steps either
  side, activations per tensor to 255 steps, through 14 quantized matrix products. On this
  model's deliberately wide weights (scores spread over 0.2-0.8) that moved scores by
  0.011-0.024 at most over seeds 0-3 (8-bit weights: up to 0.12, CPU-dependent); 0.05 keeps
  about twice that as margin, and any swapped label, wrong activation or broken graph moves
  scores by far more (the scores of different texts differ by 0.1-0.6).

What int8 costs on the real weights cannot be measured without them; the README says so.
"""

from __future__ import annotations

import pytest

from classifiers import registry
from classifiers.base import ClassifierConfigError
from tests.classifiers.detoxify_fixtures import tiny_detoxify

pytest.importorskip("torch")
pytest.importorskip("detoxify")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

FP32_TOLERANCE, INT8_TOLERANCE = 1e-4, 0.05
TEXTS = ["have a lovely day", "you are a complete idiot", "", "word " * 700,
         "Ünïcödé text ✓ with emoji 🙂", "I will find you and you will regret it"]


async def scores(**options) -> tuple[list[dict[str, float]], str]:
    classifier = registry.build("detoxify", "tox", tiny_detoxify().options(**options))
    await classifier.start()
    try:
        return await classifier.classify(TEXTS), classifier.version
    finally:
        await classifier.close()


def largest_gap(left: list[dict[str, float]], right: list[dict[str, float]]) -> float:
    return max(abs(a[label] - b[label]) for a, b in zip(left, right, strict=True) for label in a)


def spread(scores: list[dict[str, float]]) -> float:
    values = [score for text in scores for score in text.values()]
    return max(values) - min(values)


async def test_onnx_fp32_and_int8_match_torch_within_tolerance(tmp_path):
    reference, _ = await scores()
    fp32, fp32_version = await scores(runtime="onnx", onnx_cache_dir=str(tmp_path))
    int8, int8_version = await scores(runtime="onnx", quantize="int8", onnx_cache_dir=str(tmp_path))
    assert [list(s) for s in fp32] == [list(s) for s in reference]  # same labels, same order
    assert largest_gap(fp32, reference) < FP32_TOLERANCE
    assert 0 < largest_gap(int8, reference) < INT8_TOLERANCE  # int8 really ran
    assert spread(reference) > 4 * INT8_TOLERANCE  # the bound is tight against the signal
    assert fp32_version != int8_version  # cached verdicts of one are not reused by the other
    assert "int8pc7" in int8_version  # nor those of another int8 scheme


async def test_the_export_is_made_once_and_reused(tmp_path):
    await scores(runtime="onnx", quantize="int8", onnx_cache_dir=str(tmp_path))
    [folder] = list(tmp_path.iterdir())
    files = {path.name: path.stat().st_mtime_ns for path in folder.iterdir()}
    assert set(files) == {"model.onnx", "model.int8pc7.onnx"}  # no partial files left
    again, _ = await scores(runtime="onnx", quantize="int8", onnx_cache_dir=str(tmp_path))
    assert {path.name: path.stat().st_mtime_ns for path in folder.iterdir()} == files
    assert len(again) == len(TEXTS)


async def test_an_unwritable_cache_folder_is_a_clear_start_up_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    classifier = registry.build("detoxify", "tox", tiny_detoxify().options(
        runtime="onnx", onnx_cache_dir=str(blocker / "cache")))
    with pytest.raises(ClassifierConfigError, match="onnx_cache_dir"):
        await classifier.start()
