"""The bundled linear toxicity model and the micro-batcher behind it.

Its scores against the original scikit-learn pipeline: test_profanity_numpy.py."""

from __future__ import annotations

import asyncio

import pytest

from classifiers.base import ClassifierError
from classifiers.batching import MicroBatcher
from classifiers.profanity import LinearProfanityModel, ProfanityClassifier

TEXTS = ["have a lovely day", "you are a fucking idiot", "the weather is mild", "shut up bitch",
         "", "Ünïcödé text ✓"]


async def test_classifier_scores_and_batches_concurrent_calls():
    classifier = ProfanityClassifier("tox")
    await classifier.start()
    try:
        results = await asyncio.gather(*(classifier.classify([t]) for t in TEXTS))
        assert [r[0]["profane"] for r in results[:4]] == pytest.approx(
            LinearProfanityModel.load_packaged().predict(TEXTS[:4]))
        assert results[1][0]["profane"] > 0.9 > results[0][0]["profane"]
        assert classifier._batcher is not None
        assert max(classifier._batcher.batch_sizes) > 1  # concurrent calls shared a batch
    finally:
        await classifier.close()


async def test_batcher_full_queue_raises_and_cancelled_caller_does_not_poison():
    release = asyncio.Event()
    loop = asyncio.get_running_loop()

    def slow_len(texts: list[str]) -> list[int]:
        asyncio.run_coroutine_threadsafe(release.wait(), loop).result()
        return [len(t) for t in texts]

    batcher: MicroBatcher[int] = MicroBatcher(slow_len, name="t", max_batch=2, max_queue=3)
    batcher.start()
    first = asyncio.create_task(batcher.submit(["a"]))
    await asyncio.sleep(0.05)  # the first batch is running now
    cancelled = asyncio.create_task(batcher.submit(["bb"]))
    kept = asyncio.create_task(batcher.submit(["ccc"]))
    await asyncio.sleep(0.01)
    with pytest.raises(ClassifierError, match="queue full"):
        await batcher.submit(["d", "e"])
    cancelled.cancel()
    release.set()
    assert await first == [1]
    assert await kept == [3]
    assert cancelled.cancelled()
    await batcher.close()


async def test_batcher_model_failure_fails_only_that_batch():
    calls = []

    def flaky(texts: list[str]) -> list[int]:
        calls.append(texts)
        if "boom" in texts:
            raise ValueError("model exploded")
        return [1 for _ in texts]

    batcher: MicroBatcher[int] = MicroBatcher(flaky, name="t", max_batch=1)
    batcher.start()
    with pytest.raises(ClassifierError, match="model exploded"):
        await batcher.submit(["boom"])
    assert await batcher.submit(["fine"]) == [1]
    await batcher.close()
