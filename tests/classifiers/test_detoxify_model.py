"""The Detoxify classifier on a tiny real model: Detoxify's loader, labels, scores, errors."""

from __future__ import annotations

import asyncio
import threading

import pytest

from classifiers import registry
from classifiers.base import ClassifierError
from tests.classifiers.detoxify_fixtures import tiny_detoxify
from tests.classifiers.sequence_checks import check_highest_window_wins

torch = pytest.importorskip("torch")
pytest.importorskip("detoxify")

LABELS = ("toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack")
TEXTS = ["have a lovely day", "you are a complete idiot", "the weather is mild today",
         "I will find you", "", "Ünïcödé text ✓ with emoji 🙂", "word " * 300]


@pytest.fixture
async def classifier():
    classifier = registry.build("detoxify", "tox", tiny_detoxify().options(max_wait_ms=20))
    await classifier.start()
    yield classifier
    await classifier.close()


def reference_scores(text: str) -> list[float]:
    """The tiny model run directly, the way Detoxify.predict runs it (one text, truncated)."""
    from detoxify.detoxify import get_model_and_tokenizer

    files = tiny_detoxify()
    checkpoint = torch.load(files.checkpoint, weights_only=False)
    args = {**checkpoint["config"]["arch"]["args"], "model_type": str(files.config_dir)}
    model, tokenizer = get_model_and_tokenizer(**args, state_dict=checkpoint["state_dict"])
    inputs = tokenizer([text], return_tensors="pt", truncation=True, padding=True)
    with torch.no_grad():
        return torch.sigmoid(model.eval()(**inputs)[0])[0].tolist()


async def test_labels_and_score_ranges(classifier):
    assert classifier.labels == LABELS
    results = await classifier.classify(TEXTS)
    assert len(results) == len(TEXTS)
    for scores in results:
        assert tuple(scores) == LABELS
        assert all(0.0 <= score <= 1.0 for score in scores.values())
    spread = max(r["toxicity"] for r in results) - min(r["toxicity"] for r in results)
    assert spread > 0.01  # distinct texts get distinct scores from this model


async def test_scores_equal_the_model_run_directly(classifier):
    [scores] = await classifier.classify([TEXTS[1]])
    assert list(scores.values()) == pytest.approx(reference_scores(TEXTS[1]), abs=1e-5)


async def test_a_worker_process_serves_the_same_model_and_labels():
    worker = registry.build("detoxify", "tox", tiny_detoxify().options(workers=1))
    await worker.start()
    try:
        assert worker.labels == LABELS
        [scores] = await worker.classify([TEXTS[1]])
    finally:
        await worker.close()
    assert list(scores.values()) == pytest.approx(reference_scores(TEXTS[1]), abs=1e-5)


async def test_batched_and_one_by_one_scores_agree(classifier):
    together = await asyncio.gather(*(classifier.classify([text]) for text in TEXTS))
    assert classifier.batcher.stats.batches < len(TEXTS) + 1  # warm-up + fewer than one each
    for text, [batched] in zip(TEXTS, together, strict=True):
        [alone] = await classifier.classify([text])
        assert batched == pytest.approx(alone, abs=1e-5)


async def test_a_long_text_is_scored_as_windows_and_keeps_the_worst():
    options = tiny_detoxify().options(window_tokens=32, window_overlap=8)
    classifier = registry.build("detoxify", "tox", options)
    await classifier.start()
    try:
        text = "thank you so much for your help " * 20 + "you are a complete idiot"
        await check_highest_window_wins(classifier, text, window_tokens=32)
    finally:
        await classifier.close()


async def test_a_hung_model_raises_classifier_error_not_a_hang():
    options = tiny_detoxify().options(request_timeout_s=0.3, stall_after_s=0.2)
    classifier = registry.build("detoxify", "tox", options)
    await classifier.start()
    release = threading.Event()
    engine_model = classifier.batcher._model.scorer.model  # the torch module Detoxify built
    hook = engine_model.register_forward_pre_hook(lambda *_: release.wait(5))
    try:
        with pytest.raises(ClassifierError, match="no scores within"):
            await classifier.classify(["hello"])
        with pytest.raises(ClassifierError, match="stalled"):
            await classifier.classify(["hello"])
    finally:
        release.set()
        hook.remove()
        await classifier.close()
