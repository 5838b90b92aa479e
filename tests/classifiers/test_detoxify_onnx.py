"""The ONNX Runtime path gives the torch path's scores and exports only once.

Stated tolerances (absolute, per label score): fp32 ONNX within 1e-4 of torch; dynamic int8
within 0.05 on this tiny model. What int8 costs on the real weights cannot be measured
without them; the README says so.
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


async def test_onnx_fp32_and_int8_match_torch_within_tolerance(tmp_path):
    reference, _ = await scores()
    fp32, fp32_version = await scores(runtime="onnx", onnx_cache_dir=str(tmp_path))
    int8, int8_version = await scores(runtime="onnx", quantize="int8", onnx_cache_dir=str(tmp_path))
    assert [list(s) for s in fp32] == [list(s) for s in reference]  # same labels, same order
    assert largest_gap(fp32, reference) < FP32_TOLERANCE
    assert 0 < largest_gap(int8, reference) < INT8_TOLERANCE  # int8 really ran
    assert fp32_version != int8_version  # cached verdicts of one are not reused by the other


async def test_the_export_is_made_once_and_reused(tmp_path):
    await scores(runtime="onnx", quantize="int8", onnx_cache_dir=str(tmp_path))
    [folder] = list(tmp_path.iterdir())
    files = {path.name: path.stat().st_mtime_ns for path in folder.iterdir()}
    assert set(files) == {"model.onnx", "model.int8.onnx"}  # no partial files left
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
