"""GPU-sized serving options, tested where no GPU is: precision, device defaults, padding.

Half precision runs on the CPU too (slowly), so the scores it gives are compared with
float32 here on the tiny real models of transformers_fixtures.py. The bounds: float16 keeps
11 significant bits (unit roundoff u = 2**-11, about 4.9e-4), bfloat16 8 (u = 2**-8, about
3.9e-3). Every product and sum of the two-layer model rounds once, and layer norms keep the
activations near unit size, so a logit is off by a small multiple of u; sigmoid and
softmax then shrink a logit error by at least half (their slope is at most 1/4 and 1/2).
Measured gaps were 1-2 u; the tests allow 8 u, and ask for a gap above 0 so that the
half-precision path really ran.
"""

from __future__ import annotations

import pytest

from classifiers import registry
from classifiers.base import ClassifierConfigError
from classifiers.hf.options import TransformersOptions
from classifiers.options import parse_options
from classifiers.sequence.encoding import padded_width
from tests.classifiers.test_transformers import TEXTS, scores_of, started

pytest.importorskip("transformers")

ROUNDOFF = {"float16": 2.0**-11, "bfloat16": 2.0**-8}


def largest_gap(left: list[dict[str, float]], right: list[dict[str, float]]) -> float:
    return max(abs(a[label] - b[label]) for a, b in zip(left, right, strict=True) for label in a)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("kind", ["guard", "toxic", "deberta"])
async def test_half_precision_scores_stay_within_a_few_roundoffs_of_float32(kind, dtype):
    reference = await scores_of(kind, TEXTS)
    half = await scores_of(kind, TEXTS, dtype=dtype)
    assert [list(s) for s in half] == [list(s) for s in reference]
    assert 0 < largest_gap(half, reference) <= 8 * ROUNDOFF[dtype]


async def test_padding_rows_to_a_multiple_changes_shapes_not_scores():
    reference = await scores_of("guard", TEXTS)
    classifier = await started("guard", pad_multiple=16)
    try:
        padded = await classifier.classify(TEXTS)
        assert classifier.batcher is not None
        rows = classifier.batcher.stats.rows
        # Every pass is padded to a multiple of 16 tokens, so the padded total is one too.
        assert classifier.batcher.stats.padded_tokens % 16 == 0 and rows > 0
    finally:
        await classifier.close()
    # The attention mask hides padding; only float32 summation order differs.
    assert largest_gap(padded, reference) < 1e-5


@pytest.mark.parametrize(("longest", "multiple", "limit", "width"), [
    (13, 1, 512, 13), (13, 8, 512, 16), (16, 8, 512, 16), (509, 8, 512, 512),
    (510, 8, 510, 510), (511, 64, 510, 511), (1, 8, 512, 8)])
def test_padded_width_rounds_up_within_the_window(longest, multiple, limit, width):
    assert padded_width(longest, multiple, limit) == width


def options(**raw: object) -> TransformersOptions:
    return parse_options(TransformersOptions, "hf", "transformers", {"model": "m", **raw})


def test_unset_serving_options_follow_the_device():
    cpu, cuda = options(), options(device="cuda")
    assert (cpu.max_batch, cpu.max_batch_tokens, cpu.pad_multiple, cpu.dtype) == (
        32, 2048, 1, "float32")
    assert (cuda.max_batch, cuda.max_batch_tokens, cuda.pad_multiple, cuda.dtype) == (
        256, 65536, 8, "float16")
    mine = options(device="cuda", max_batch=64, dtype="bfloat16", pad_multiple=1)
    assert (mine.max_batch, mine.max_batch_tokens, mine.dtype, mine.pad_multiple) == (
        64, 65536, "bfloat16", 1)
    # A GPU's passes are replayed CUDA graphs, pipelined with the tokenizer; a CPU's not.
    assert (cuda.cuda_graphs, cuda.pipeline, cpu.cuda_graphs, cpu.pipeline) == (
        True, True, False, False)
    # ONNX Runtime serves the float32 export (or int8): no half-precision or graph default.
    onnx = options(device="cuda", runtime="onnx")
    assert (onnx.dtype, onnx.cuda_graphs, onnx.pipeline) == ("float32", False, True)


def test_the_runtime_tag_names_the_precision():
    assert options().runtime_tag() == "torch"
    assert options(device="cuda").runtime_tag() == "torch-float16"
    assert options(dtype="bfloat16").runtime_tag() == "torch-bfloat16"
    assert options(device="cuda", dtype="float32", allow_tf32=True).runtime_tag() == "torch-tf32"
    assert options(dtype="float32", allow_tf32=True).runtime_tag() == "torch"  # no TF32 on cpu


@pytest.mark.parametrize(("raw", "named"), [
    ({"dtype": "float16", "runtime": "onnx"}, "dtype: float16 needs runtime: torch"),
    ({"dtype": "half"}, "options.dtype"),
    ({"pad_multiple": 0}, "options.pad_multiple"),
    ({"device": "tpu"}, "options.device"),
])
def test_bad_precision_or_padding_options_name_the_option(raw, named):
    with pytest.raises(ClassifierConfigError, match=r"check 'hf' \(transformers\)") as caught:
        registry.build("transformers", "hf", {"model": "x", **raw})
    assert named in str(caught.value)


async def test_a_half_precision_model_has_its_own_version():
    plain = await started("guard")
    half = await started("guard", dtype="bfloat16")
    try:
        assert plain.version != half.version and ":torch-bfloat16:" in half.version
    finally:
        await plain.close()
        await half.close()
