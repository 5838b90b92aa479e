"""In-process checks (classifiers.base.InProcessClassifier) scored as a plain call in the
caller's step: the same scores, metrics, cache and failures as an awaited check."""

from __future__ import annotations

import asyncio

import pytest

from classifiers.base import Classifier, ClassifyContext, InProcessClassifier, Scores
from classifiers.profanity import ProfanityClassifier
from proxy.config.schema import CheckConfig
from proxy.config.snapshot import Check
from proxy.observability.metrics import Metrics
from proxy.pipeline.checks import run_checks
from proxy.state.factory import start_state
from tests.proxy.state.helpers import sample, settings


def marked(texts) -> list[Scores]:
    return [{"bad": 0.9 if "BAD" in text else 0.1} for text in texts]


class Marker(InProcessClassifier):
    """Scores in the caller; fails the test if it is ever awaited instead."""

    type_name = "marker"
    labels = ("bad",)

    def __init__(self, name: str = "marker", fail: bool = False) -> None:
        super().__init__(name)
        self.fail, self.calls = fail, []  # type: ignore[var-annotated]

    def classify_now(self, texts, context=None) -> list[Scores]:
        self.calls.append(list(texts))
        if self.fail:
            raise RuntimeError("broken model")
        return marked(texts)

    async def classify(self, texts, context=None) -> list[Scores]:
        raise AssertionError("an in-process check that scores now is never awaited")


class AwaitedMarker(Classifier):
    type_name = "awaited"
    labels = ("bad",)

    async def classify(self, texts, context=None) -> list[Scores]:
        await asyncio.sleep(0)
        return marked(texts)


def check(classifier: Classifier, **config) -> Check:
    return Check(CheckConfig(name=classifier.name, type=classifier.type_name, timeout_s=1.0,
                             **config), classifier)


TEXTS = ["hello there", "a BAD word", "hello there"]


async def test_an_in_process_check_scores_as_an_awaited_one_does() -> None:
    metrics = Metrics()
    cache = (await start_state(settings(), metrics)).cache
    now, awaited = Marker("now"), AwaitedMarker("awaited")
    run = await run_checks([check(now), check(awaited)], TEXTS, ClassifyContext("input"),
                           metrics, cache)
    assert run.failures == []
    assert run.scores["now"] == run.scores["awaited"] == marked(TEXTS)
    assert now.calls == [TEXTS], "one call"
    for name in ("now", "awaited"):
        assert sample(metrics, "safety_proxy_check_outcomes_total",
                      {"classifier": name, "outcome": "ok"}) == 1
        assert sample(metrics, "safety_proxy_classifier_duration_seconds_count",
                      {"classifier": name}) == 1
    # kept from a text's second miss (cache.SeenOnce): "hello there" came twice already
    again = await run_checks([check(now)], TEXTS, ClassifyContext("input"), metrics, cache)
    assert again.scores["now"] == marked(TEXTS) and now.calls[1:] == [["a BAD word"]]
    third = await run_checks([check(now)], TEXTS, ClassifyContext("input"), metrics, cache)
    assert third.scores["now"] == marked(TEXTS) and len(now.calls) == 2, "cache hits"


async def test_an_in_process_check_that_raises_fails_alone() -> None:
    metrics = Metrics()
    cache = (await start_state(settings(), metrics)).cache
    run = await run_checks([check(Marker("broken", fail=True), on_error="fail_closed"),
                            check(AwaitedMarker("awaited"))], TEXTS,
                           ClassifyContext("input"), metrics, cache)
    assert [(f.classifier, f.kind, f.on_error) for f in run.failures] == [
        ("broken", "error", "fail_closed")]
    assert run.scores == {"awaited": marked(TEXTS)}
    assert sample(metrics, "safety_proxy_check_outcomes_total",
                  {"classifier": "broken", "outcome": "error"}) == 1


async def test_a_profanity_model_busy_on_its_thread_is_awaited() -> None:
    """Inline scoring only while the model's thread is idle (batching.py): a short call
    that arrives while a long one runs there queues behind it."""
    classifier = ProfanityClassifier("toxicity", {"inline_max_chars": 100})
    await classifier.start()
    try:
        assert classifier.scores_now(["a short text"])
        assert not classifier.scores_now(["x" * 101])
        long_call = asyncio.ensure_future(classifier.classify(["some words " * 20_000]))
        await asyncio.sleep(0)  # queued or running on the thread: not idle
        assert not classifier.scores_now(["a short text"])
        metrics = Metrics()
        cache = (await start_state(settings(), metrics)).cache
        run = await run_checks([check(classifier)], ["a short text"],
                               ClassifyContext("input"), metrics, cache)
        assert run.failures == [] and long_call.done(), "it waited its turn"
        assert run.scores["toxicity"] == [{"profane": classifier.classify_now(
            ["a short text"])[0]["profane"]}]
    finally:
        await classifier.close()


@pytest.mark.parametrize("traced", [False, True])
async def test_the_same_scores_in_the_callers_step_and_awaited(traced: bool) -> None:
    """Profanity scored now and through its thread gives the same scores."""
    classifier = ProfanityClassifier("toxicity", {"inline_max_chars": 0 if traced else 10_000})
    await classifier.start()
    try:
        texts = ["you are an idiot", "have a nice day", "what the f*ck"]
        assert classifier.scores_now(texts) is not traced
        metrics = Metrics()
        cache = (await start_state(settings(), metrics)).cache
        run = await run_checks([check(classifier, normalize=False)], texts,
                               ClassifyContext("input"), metrics, cache)
        assert run.scores["toxicity"] == await classifier.classify(texts)
    finally:
        await classifier.close()
