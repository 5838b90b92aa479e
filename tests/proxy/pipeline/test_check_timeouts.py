"""A check that hangs past its ``timeout_s`` becomes a "timeout" failure and nothing else:
alone (it runs in the caller's task) or beside other checks (each in a task of its own), the
other checks' scores are kept and the caller's task carries on uncancelled."""

from __future__ import annotations

import asyncio

import pytest

from classifiers.base import Classifier, ClassifyContext
from proxy.config.schema import CheckConfig
from proxy.config.snapshot import Check
from proxy.observability.metrics import Metrics
from proxy.pipeline.checks import run_checks
from proxy.state.ports import NoVerdictCache
from tests.proxy.state.helpers import sample


class Hanging(Classifier):
    type_name = "hanging"
    labels = ("bad",)

    async def classify(self, texts, context=None):
        await asyncio.sleep(3600)
        raise AssertionError("never reached")


class Quick(Classifier):
    type_name = "quick"
    labels = ("bad",)

    async def classify(self, texts, context=None):
        return [{"bad": 0.25} for _ in texts]


def check(classifier: Classifier, timeout_s: float) -> Check:
    config = CheckConfig(name=classifier.name, type=classifier.type_name, timeout_s=timeout_s)
    return Check(config, classifier)


@pytest.mark.parametrize("with_quick", [False, True], ids=["alone", "beside-another"])
async def test_a_hanging_check_times_out_and_the_caller_goes_on(with_quick: bool) -> None:
    metrics = Metrics()
    checks = [check(Hanging("slow"), 0.05)] + ([check(Quick("fast"), 5.0)] if with_quick else [])
    run = await run_checks(checks, ["hello"], ClassifyContext("input"), metrics,
                           NoVerdictCache())
    assert [(f.classifier, f.kind) for f in run.failures] == [("slow", "timeout")]
    assert run.scores == ({"fast": [{"bad": 0.25}]} if with_quick else {})
    assert sample(metrics, "safety_proxy_check_outcomes_total",
                  {"classifier": "slow", "outcome": "timeout"}) == 1
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0  # the timeout's cancel was absorbed
    await asyncio.sleep(0)  # and the task still runs


async def test_a_cancelled_caller_is_cancelled_not_timed_out() -> None:
    # The request itself going away (client gone) must not read as a check's timeout.
    started = asyncio.Event()

    class Waiting(Hanging):
        async def classify(self, texts, context=None):
            started.set()
            return await super().classify(texts, context)

    metrics = Metrics()
    caller = asyncio.ensure_future(run_checks(
        [check(Waiting("slow"), 30.0)], ["hello"], ClassifyContext("input"), metrics,
        NoVerdictCache()))
    await started.wait()
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert sample(metrics, "safety_proxy_check_outcomes_total",
                  {"classifier": "slow", "outcome": "timeout"}) == 0
