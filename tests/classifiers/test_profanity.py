"""The bundled linear toxicity model and the micro-batcher behind it.

Its scores against the original scikit-learn pipeline: test_profanity_numpy.py."""

from __future__ import annotations

import asyncio
import threading

import pytest

from classifiers.base import ClassifierError
from classifiers.batching import MicroBatcher
from classifiers.profanity import LinearProfanityModel, ProfanityClassifier

TEXTS = ["have a lovely day", "you are a fucking idiot", "the weather is mild", "shut up bitch",
         "", "Ünïcödé text ✓"]


async def test_classifier_scores_and_batches_concurrent_calls():
    classifier = ProfanityClassifier("tox", {"inline_max_chars": 0})  # every call queued
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


async def test_inline_scores_equal_the_model_threads():
    inline, queued = ProfanityClassifier("a"), ProfanityClassifier("b", {"inline_max_chars": 0})
    await inline.start()
    await queued.start()
    try:
        for text in TEXTS:  # one call at a time: the model is idle for each
            assert await inline.classify([text]) == await queued.classify([text])
    finally:
        await inline.close()
        await queued.close()


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


def _recording(threads: list[int]):
    def score(texts: list[str]) -> list[int]:
        threads.append(threading.get_ident())
        return [len(t) for t in texts]
    return score


async def test_an_idle_batcher_scores_a_short_call_inline_and_a_long_one_on_its_thread():
    threads: list[int] = []
    batcher: MicroBatcher[int] = MicroBatcher(_recording(threads), name="t", inline_max_chars=8)
    batcher.start()
    try:
        assert await batcher.submit(["abc", "de"]) == [3, 2]  # 5 characters: inline
        assert await batcher.submit(["abcdefghi"]) == [9]  # 9 characters: the model thread
    finally:
        await batcher.close()
    assert threads[0] == threading.get_ident() != threads[1]
    assert list(batcher.batch_sizes) == [2, 1]


async def test_calls_queued_behind_a_running_batch_are_gathered_not_run_inline():
    release = threading.Event()
    threads: list[int] = []
    record = _recording(threads)

    def gated(texts: list[str]) -> list[int]:
        release.wait(5)
        return record(texts)

    batcher: MicroBatcher[int] = MicroBatcher(gated, name="t", inline_max_chars=3)
    batcher.start()
    try:
        first = asyncio.create_task(batcher.submit(["a long text"]))  # the model thread
        await asyncio.sleep(0.05)  # the first batch is running now
        calls = [asyncio.create_task(batcher.submit([t])) for t in ("a", "bb", "ccc")]
        await asyncio.sleep(0.01)
        release.set()
        assert await first == [11]
        assert await asyncio.gather(*calls) == [[1], [2], [3]]
        assert threading.get_ident() not in threads  # none ran on the loop
        assert list(batcher.batch_sizes) == [1, 3]  # the queued calls shared one batch
        assert await batcher.submit(["dd"]) == [2]  # idle again: inline
        assert threads[-1] == threading.get_ident()
    finally:
        await batcher.close()


async def test_an_inline_failure_fails_that_call_only():
    def flaky(texts: list[str]) -> list[int]:
        if "boom" in texts:
            raise ValueError("model exploded")
        return [1 for _ in texts]

    batcher: MicroBatcher[int] = MicroBatcher(flaky, name="t", inline_max_chars=100)
    batcher.start()
    try:
        with pytest.raises(ClassifierError, match="t: ValueError: model exploded"):
            await batcher.submit(["boom"])
        assert await batcher.submit(["fine"]) == [1]
    finally:
        await batcher.close()


async def test_a_cancelled_long_call_leaves_its_unscored_parts_unscored():
    # A call of 10 texts is queued in parts of max_batch (2): cancelled while its first
    # part runs, its 4 other parts never reach the model; a call queued behind it is next.
    release = asyncio.Event()
    loop = asyncio.get_running_loop()
    scored: list[list[str]] = []

    def slow_len(texts: list[str]) -> list[int]:
        scored.append(texts)
        if len(scored) == 1:
            asyncio.run_coroutine_threadsafe(release.wait(), loop).result()
        return [len(t) for t in texts]

    batcher: MicroBatcher[int] = MicroBatcher(slow_len, name="t", max_batch=2)
    batcher.start()
    long_call = asyncio.create_task(batcher.submit([f"t{i}" for i in range(10)]))
    await asyncio.sleep(0.05)  # its first part is on the model thread
    behind = asyncio.create_task(batcher.submit(["next"]))
    await asyncio.sleep(0.01)
    long_call.cancel()
    release.set()
    assert await behind == [4]
    assert long_call.cancelled()
    assert scored == [["t0", "t1"], ["next"]] and batcher.queued_texts == 0
    assert await batcher.submit([f"u{i}" for i in range(5)]) == [2] * 5  # results in order
    assert scored[2:] == [["u0", "u1"], ["u2", "u3"], ["u4"]]
    await batcher.close()
