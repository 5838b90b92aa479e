"""The remote client against a fake Open Inference Protocol server (fake_oip.py, the real
wire format): gathering, retries, timeouts, malformed answers, the API key, backpressure and
start-up checks. Every failure is a ClassifierError (ClassifierConfigError at start-up) with a
clear message that quotes neither a text nor the key."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from classifiers import registry
from classifiers.base import ClassifierConfigError, ClassifierError, Overloaded
from classifiers.sequence.classifier import SequenceClassifier
from tests.classifiers.remote.fake_oip import LABELS, FakeOIP, replaced, score, status
from tests.support.ports import free_port
from tests.support.serving import start_app

KEY = "sk-remote-THIS-MUST-NOT-LEAK-42"
SECRET_TEXT = "my secret diary entry"
Start = Callable[..., Awaitable[SequenceClassifier]]


@pytest.fixture
async def remote(serve_app) -> AsyncIterator[tuple[FakeOIP, Start]]:
    """(the fake server, start(**remote options) -> a started transformers classifier)."""
    fake = FakeOIP()
    started: list[SequenceClassifier] = []

    async def start(url: str | None = None, **remote: Any) -> SequenceClassifier:
        base = url or await serve_app(fake.app())
        options = {"model": "unused-here", "runtime": "remote",
                   "remote": {"url": base, "model": "guard", **remote}}
        classifier = registry.build("transformers", "guard", options)
        assert isinstance(classifier, SequenceClassifier)
        await classifier.start()
        started.append(classifier)
        return classifier

    yield fake, start
    for classifier in started:
        await classifier.close()


async def test_scores_map_to_the_served_columns(remote) -> None:
    fake, start = remote
    classifier = await start()
    assert classifier.labels == tuple(LABELS)
    texts = ["a", "bb", "ccc"]
    assert await classifier.classify(texts) == [
        {label: score(text, column) for column, label in enumerate(LABELS)} for text in texts]
    assert fake.calls[0]["body"] == {
        "inputs": [{"name": "text", "shape": [3], "datatype": "BYTES", "data": texts}],
        "outputs": [{"name": "scores"}]}


async def test_a_lone_surrogate_is_sent_as_a_replacement_character(remote) -> None:
    fake, start = remote
    classifier = await start(max_wait_ms=20)
    odd, fine = await asyncio.gather(classifier.classify(["odd \ud800 text"]),
                                     classifier.classify(["fine"]))
    assert len(odd) == len(fine) == 1  # batched together, neither failed
    sent = [text for call in fake.calls for text in call["body"]["inputs"][0]["data"]]
    assert "fine" in sent and any(t.startswith("odd \ufffd") for t in sent)


async def test_concurrent_calls_are_gathered_into_fewer_inference_calls(remote) -> None:
    fake, start = remote
    classifier = await start(max_wait_ms=30, max_batch=8)
    observed: list[int] = []
    classifier.batch_listener = observed.append  # the proxy's batch-size metric
    results = await asyncio.gather(*(classifier.classify([f"text {i}", "x" * i])
                                     for i in range(12)))
    assert [len(result) for result in results] == [2] * 12
    assert sum(fake.batch_sizes) == 24
    assert len(fake.calls) <= 4 and max(fake.batch_sizes) <= 8
    assert observed == fake.batch_sizes
    assert results[5][1] == {label: score("x" * 5, c) for c, label in enumerate(LABELS)}


async def test_a_lone_call_on_an_idle_client_does_not_wait(remote) -> None:
    fake, start = remote
    classifier = await start(max_wait_ms=60_000)  # a wait would outlast the test
    assert len(await asyncio.wait_for(classifier.classify(["alone"]), 10)) == 1
    fake.infer_delay_s = 0.2  # while one call is in flight, the next ones gather
    first = asyncio.ensure_future(classifier.classify(["first"]))
    await asyncio.sleep(0.05)
    later = [asyncio.ensure_future(classifier.classify([f"t{i}"])) for i in range(3)]
    await asyncio.wait_for(first, 10)
    assert not any(task.done() for task in later)  # waiting to gather (max_wait_ms: 60 s)
    await classifier.close()  # fails the waiting calls, leaves nothing running
    for task in later:
        with pytest.raises(ClassifierError, match="closed"):
            await task


async def test_a_call_larger_than_max_batch_is_split(remote) -> None:
    fake, start = remote
    classifier = await start(max_batch=4, max_wait_ms=0)
    texts = [str(i) * (i + 1) for i in range(10)]
    scores = await classifier.classify(texts)
    assert sorted(fake.batch_sizes) == [2, 4, 4]
    assert [s["unsafe"] for s in scores] == [score(text, 1) for text in texts]


async def test_no_more_calls_in_flight_than_max_concurrency(remote) -> None:
    fake, start = remote
    fake.infer_delay_s = 0.1
    classifier = await start(max_batch=1, max_wait_ms=0, max_concurrency=2)
    in_flight, peak = 0, 0
    original = classifier.remote._vectors  # type: ignore[union-attr]

    async def counted(texts: list[str]) -> list[list[float]]:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            return await original(texts)
        finally:
            in_flight -= 1

    classifier.remote.gatherer._call = counted  # type: ignore[union-attr]
    await asyncio.gather(*(classifier.classify([f"t{i}"]) for i in range(6)))
    assert peak == 2 and len(fake.calls) == 6


@pytest.mark.parametrize("code", [503, 429])
async def test_a_busy_server_is_retried(remote, code: int) -> None:
    fake, start = remote
    classifier = await start(backoff_s=0.01)
    fake.faults = [status(code), status(code)]
    assert (await classifier.classify(["abc"]))[0]["safe"] == score("abc", 0)
    assert len(fake.calls) == 3


async def test_retries_end_with_a_clear_error(remote) -> None:
    fake, start = remote
    classifier = await start(retries=2, backoff_s=0.01)
    fake.faults = [status(503)] * 3
    with pytest.raises(ClassifierError, match=r"HTTP 503 \(after 3 tries\)"):
        await classifier.classify(["abc"])
    assert len(fake.calls) == 3


async def test_a_backoff_past_the_deadline_is_not_slept(remote) -> None:
    fake, start = remote
    classifier = await start(retries=5, backoff_s=10, timeout_s=0.5)
    fake.faults = [status(503)] * 6
    began = asyncio.get_running_loop().time()
    with pytest.raises(ClassifierError, match=r"HTTP 503 \(after 1 tries\)"):
        await classifier.classify(["abc"])
    assert asyncio.get_running_loop().time() - began < 0.5


async def test_a_hung_server_times_out(remote) -> None:
    fake, start = remote
    classifier = await start(timeout_s=0.3)
    fake.infer_delay_s = 30
    with pytest.raises(ClassifierError, match=r"no answer within timeout_s \(0.3s\)"):
        await classifier.classify(["abc"])
    fake.infer_delay_s = 0  # the client is not poisoned by the abandoned call
    assert len(await classifier.classify(["abc"])) == 1


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(body: dict[str, Any]) -> None:
        node = body
        *parents, last = path.split(".")
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]  # type: ignore[index]
        node[last] = value
    return change


MALFORMED = [
    (status(200, "not json {"), "the body is not JSON"),
    (replaced(lambda body: body.pop("outputs")), "no 'outputs' list"),
    (replaced(_set("outputs.0.name", "logits")), "no tensor named 'scores'"),
    (replaced(_set("outputs.0.shape", [1, 3])), r"shape \[1, 3\], expected \[1, 2\]"),
    (replaced(_set("outputs.0.datatype", "INT64")), "datatype 'INT64', not FP32 or FP64"),
    (replaced(_set("outputs.0.data", [0.5])), "not a flat list of 2 numbers"),
    (replaced(_set("outputs.0.data", [0.5, 1.5])), "not a finite number within"),
    (replaced(_set("outputs.0.data", [-0.1, 0.5])), "not a finite number within"),
    (replaced(_set("outputs.0.data", ["0.5", 0.5])), "not a finite number within"),
    (replaced(_set("outputs.0.data", [math.nan, 0.5])), "not JSON|not a finite number"),
    (replaced(_set("outputs.0.data", [[0.5, 0.5]])), "not a flat list"),
]


@pytest.mark.parametrize(("fault", "message"), MALFORMED)
async def test_a_malformed_answer_is_a_clear_error(remote, fault, message: str) -> None:
    fake, start = remote
    classifier = await start()
    fake.faults = [fault]
    with pytest.raises(ClassifierError, match=message) as caught:
        await classifier.classify([SECRET_TEXT])
    assert "malformed inference response" in str(caught.value)
    assert SECRET_TEXT not in str(caught.value)
    assert len(await classifier.classify(["next"])) == 1  # nothing else broke


async def test_an_error_status_is_not_retried_and_quotes_no_text(remote) -> None:
    fake, start = remote
    classifier = await start()
    fake.faults = [status(400, f"bad input: {SECRET_TEXT}")]
    with pytest.raises(ClassifierError, match=r"server answered HTTP 400$") as caught:
        await classifier.classify([SECRET_TEXT])
    assert SECRET_TEXT not in str(caught.value)
    assert len(fake.calls) == 1


async def test_the_api_key_is_sent_and_never_shown(remote, monkeypatch, caplog) -> None:
    fake, start = remote
    monkeypatch.setenv("OIP_TEST_KEY", KEY)
    caplog.set_level(logging.DEBUG)
    classifier = await start(api_key_env="OIP_TEST_KEY", retries=1, backoff_s=0.01)
    await classifier.classify(["abc"])
    assert fake.calls[0]["authorization"] == f"Bearer {KEY}"
    fake.faults = [status(401, f"bad key {KEY}"), status(503, KEY), status(503, KEY)]
    errors = []
    for _ in range(2):
        with pytest.raises(ClassifierError) as caught:
            await classifier.classify(["abc"])
        errors.append(str(caught.value))
    assert "HTTP 401" in errors[0] and "HTTP 503" in errors[1]
    assert all(KEY not in error for error in errors)
    assert KEY not in caplog.text


async def test_a_start_up_error_echoing_the_key_does_not_show_it(remote, serve_app,
                                                                  monkeypatch) -> None:
    from aiohttp import web

    async def refuse(request: web.Request) -> web.Response:  # echoes the credentials
        return web.Response(status=401, text=f"bad token {request.headers['Authorization']}")

    app = web.Application()
    app.router.add_get("/v2/health/ready", refuse)
    _, start = remote
    monkeypatch.setenv("OIP_TEST_KEY", KEY)
    with pytest.raises(ClassifierConfigError, match="HTTP 401: bad token Bearer") as caught:
        await start(url=await serve_app(app), api_key_env="OIP_TEST_KEY")
    assert KEY not in str(caught.value) and "[api key]" in str(caught.value)


async def test_an_unset_api_key_variable_is_a_config_error(remote, monkeypatch) -> None:
    _, start = remote
    monkeypatch.delenv("OIP_UNSET_KEY", raising=False)
    with pytest.raises(ClassifierConfigError, match=r"OIP_UNSET_KEY .* is not set"):
        await start(api_key_env="OIP_UNSET_KEY")


async def test_a_full_queue_is_overloaded(remote) -> None:
    fake, start = remote
    fake.infer_delay_s = 0.3
    classifier = await start(max_concurrency=1, max_batch=2, max_wait_ms=0)
    object.__setattr__(classifier.remote.gatherer, "_max_queue", 4)  # type: ignore[union-attr]
    first = asyncio.ensure_future(classifier.classify(["a", "b"]))  # in flight
    await asyncio.sleep(0.05)
    queued = asyncio.ensure_future(classifier.classify(["c", "d", "e", "f"]))  # waits
    await asyncio.sleep(0.05)
    with pytest.raises(Overloaded, match="queue full"):
        await classifier.classify(["g"])
    assert len(await first) == 2 and len(await queued) == 4


async def test_an_unreachable_server_is_a_config_error(remote) -> None:
    _, start = remote
    with pytest.raises(ClassifierConfigError, match="remote model 'guard' at http://127"):
        await start(url=f"http://127.0.0.1:{free_port()}", timeout_s=2)


async def test_a_server_gone_after_start_fails_the_call(remote) -> None:
    fake, start = remote
    runner, url = await start_app(fake.app())
    classifier = await start(url=url, retries=1, backoff_s=0.01)
    await runner.cleanup()
    with pytest.raises(ClassifierError, match=r"connection failed: \w+ \(after 2 tries\)"):
        await classifier.classify(["abc"])


async def test_labels_come_from_the_options_when_the_server_publishes_none(remote) -> None:
    fake, start = remote
    fake.labels = None
    with pytest.raises(ClassifierConfigError, match="publishes no labels"):
        await start()
    classifier = await start(labels=["OK", "Unsafe Content"])
    assert classifier.labels == ("ok", "unsafe_content")


async def test_a_label_count_that_does_not_fit_the_output_is_a_config_error(remote) -> None:
    _, start = remote
    with pytest.raises(ClassifierConfigError, match="has 2 columns, but 3 labels are named"):
        await start(labels=["a", "b", "c"])


@pytest.mark.parametrize(("remote_option", "message"), [
    ({"input_name": "prompt"}, "no input 'prompt'"),
    ({"output_name": "logits"}, "no output 'logits'"),
])
async def test_tensor_names_are_checked_at_start(remote, remote_option, message) -> None:
    _, start = remote
    with pytest.raises(ClassifierConfigError, match=message):
        await start(**remote_option)
