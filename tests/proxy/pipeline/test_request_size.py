"""No request can switch a check off: its size is bounded (a 413 in the API's own error
format), its texts reach each classifier in calls that never fill the classifier's queue
on their own, a full queue is counted apart from faults, and a check that fails open is
recorded as "unchecked", never as "allow"."""

from __future__ import annotations

import aiohttp
import orjson
import pytest

from classifiers.base import Classifier, ClassifyContext, Overloaded
from proxy.config.schema import CheckConfig
from proxy.config.snapshot import Check
from proxy.observability.metrics import Metrics
from proxy.pipeline.checks import CALL_TEXTS, run_checks
from proxy.state.ports import NoVerdictCache
from tests.proxy.state.helpers import sample

PROFANITY = [{"name": "tox", "type": "profanity", "directions": ["input", "output"],
              "on_error": "fail_open", "options": {"max_queue": 200}}]
TOX_POLICY = {"input": {"tox": {"profane": {"block": 0.8}}}, "output": {},
              "toxic_labels": [], "refusal_label": None}


def chat(*contents: str) -> dict:
    return {"model": "m", "messages": [{"role": "user", "content": c} for c in contents]}


async def test_one_huge_request_cannot_fill_a_queue_and_fail_open(start_proxy, fake_upstream):
    """2,000 unique harmless messages and one insult, against a queue of 200 texts: the
    request's texts go in calls of CALL_TEXTS, so the insult is scored and blocked."""
    assert CALL_TEXTS < 200 < 2000  # calls fit the queue; the request alone would not
    base, app = await start_proxy(checks=PROFANITY, policy=TOX_POLICY)
    harmless = [f"note number {i} about the garden" for i in range(2000)]
    async with aiohttp.ClientSession() as session, session.post(
            f"{base}/v1/chat/completions",
            json=chat(*harmless, "you are a stupid fucking idiot")) as response:
        assert response.status == 400
        assert (await response.json())["error"]["code"] == "content_filter"
    assert fake_upstream.requests == []
    from proxy.resources import METRICS
    metrics = app[METRICS]
    for outcome in ("error", "overloaded", "timeout"):
        assert sample(metrics, "safety_proxy_check_outcomes_total",
                      {"classifier": "tox", "outcome": outcome}) == 0


@pytest.mark.parametrize(("limits", "body"), [
    ({"max_texts_per_request": 10}, chat(*(["hi"] * 11))),
    ({"max_text_chars_per_request": 100}, chat("x" * 60, "y" * 41)),
])
@pytest.mark.parametrize("path", ["chat/completions", "messages"])
async def test_a_request_past_the_limits_is_a_413_in_the_apis_format(
        start_proxy, fake_upstream, limits, body, path):
    base, _ = await start_proxy(server=limits)
    if path == "messages":
        body = {**body, "max_tokens": 5}
    async with aiohttp.ClientSession() as session, session.post(
            f"{base}/v1/{path}", json=body) as response:
        assert response.status == 413
        error = await response.json()
    assert fake_upstream.requests == []
    if path == "messages":
        assert error["type"] == "error" and error["error"]["type"] == "request_too_large"
    else:
        assert error["error"]["code"] == "too_many_texts"
    assert "limit" in orjson.dumps(error).decode()


async def test_at_the_limit_a_request_is_served(start_proxy, fake_upstream):
    base, _ = await start_proxy(server={"max_texts_per_request": 10})
    async with aiohttp.ClientSession() as session, session.post(
            f"{base}/v1/chat/completions", json=chat(*(["hi"] * 10))) as response:
        assert response.status == 200


async def test_a_check_that_fails_open_is_recorded_as_unchecked(start_proxy, fake_upstream):
    failing = [{"name": "script", "type": "scripted", "on_error": "fail_open",
                "options": {"labels": ["bad", "meh"], "fail": "raise"}}]
    base, _ = await start_proxy(checks=failing)
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/v1/chat/completions", json=chat("BADWORD")) as response:
            assert response.status == 200  # fail_open lets it through...
            assert response.headers["x-safety-decision"] == "unchecked"  # ...but says so
        async with session.get(f"{base}/metrics") as response:
            metrics = await response.text()
    assert ('safety_proxy_requests_total{decision="unchecked",route="chat_completions"} 1.0'
            in metrics)
    assert 'safety_proxy_requests_total{decision="allow",route="chat_completions"} 0.0' in metrics


class FullQueue(Classifier):
    type_name = "full_queue"
    labels = ("bad",)

    async def classify(self, texts, context=None):
        raise Overloaded("full_queue: queue full (4096 texts waiting)")


async def test_a_full_queue_is_counted_as_overloaded_not_as_an_error():
    metrics = Metrics()
    check = Check(CheckConfig(name="busy", type="full_queue"), FullQueue("busy"))
    run = await run_checks([check], ["hello"], ClassifyContext("input"), metrics,
                           NoVerdictCache())
    assert [(f.classifier, f.kind) for f in run.failures] == [("busy", "overloaded")]
    assert sample(metrics, "safety_proxy_check_outcomes_total",
                  {"classifier": "busy", "outcome": "overloaded"}) == 1
    assert sample(metrics, "safety_proxy_check_outcomes_total",
                  {"classifier": "busy", "outcome": "error"}) == 0
