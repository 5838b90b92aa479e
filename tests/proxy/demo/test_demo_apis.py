"""The demo upstream speaks every API the proxy moderates (Responses, legacy Completions,
Anthropic Messages, besides Chat Completions), whole and streamed, in each API's wire format.

The official SDKs are the judges: they read the demo directly and through a proxy on the
embedded defaults (what ``safety-proxy serve --demo`` runs), and the ``[[offend]]`` answer
gets each API's own blocked shape, streamed and not.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import anthropic
import httpx
import openai
import pytest

from proxy.app import create_app
from proxy.config.loader import load_embedded_defaults
from proxy.demo.answers import OFFENSIVE, REFUSAL, demo_answer
from proxy.demo.upstream import create_demo_upstream
from proxy.protocol.sse import SSEDecoder, SSEEvent
from tests.conftest import ServeApp

KEYS = (f"sk-demo-apis-{n}" for n in itertools.count())  # a principal per call: no throttling
RESPONSE_EVENTS = [
    "response.created", "response.in_progress", "response.output_item.added",
    "response.content_part.added", "response.output_text.delta", "response.output_text.done",
    "response.content_part.done", "response.output_item.done", "response.completed"]
MESSAGE_EVENTS = ["message_start", "content_block_start", "content_block_delta",
                  "content_block_stop", "message_delta", "message_stop"]
Clients = tuple[Callable[[], openai.AsyncOpenAI], Callable[[], anthropic.AsyncAnthropic]]


@pytest.fixture
async def upstream(serve_app: ServeApp) -> str:
    return await serve_app(create_demo_upstream())


@pytest.fixture
async def proxy(serve_app: ServeApp, upstream: str) -> str:
    """A proxy on the embedded defaults in front of the demo upstream, as ``serve --demo``."""
    loaded = load_embedded_defaults(upstream={"base_url": f"{upstream}/v1"},
                                    reload={"watch": False})
    return await serve_app(create_app(loaded))


SDKClient = openai.AsyncOpenAI | anthropic.AsyncAnthropic


@pytest.fixture
async def made() -> AsyncIterator[list[SDKClient]]:
    """Every SDK client a test makes, closed (with its pooled sockets) after it."""
    clients: list[SDKClient] = []
    yield clients
    for client in clients:
        await client.close()


def clients(base: str, made: list[SDKClient]) -> Clients:
    """Factories of SDK clients for ``base``, each with an API key of its own; each client
    is added to ``made``."""
    def openai_client() -> openai.AsyncOpenAI:
        client = openai.AsyncOpenAI(base_url=f"{base}/v1", api_key=next(KEYS), max_retries=0,
                                    timeout=10)
        made.append(client)
        return client

    def anthropic_client() -> anthropic.AsyncAnthropic:
        client = anthropic.AsyncAnthropic(base_url=base, api_key=next(KEYS), max_retries=0,
                                          timeout=10)
        made.append(client)
        return client
    return openai_client, anthropic_client


@pytest.fixture(params=["direct", "proxied"])
def sdk(request: pytest.FixtureRequest, upstream: str, made: list[SDKClient]) -> Clients:
    """Clients of the demo upstream itself, then of the proxy in front of it."""
    base = upstream if request.param == "direct" else request.getfixturevalue("proxy")
    return clients(base, made)


def squeeze(kinds: list[str]) -> list[str]:
    """Event kinds with runs of one kind folded into one."""
    return [kind for kind, _ in itertools.groupby(kinds)]


async def sse_events(url: str, body: dict[str, Any]) -> list[SSEEvent]:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(url, json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    decoder = SSEDecoder()
    return decoder.feed(response.content) + decoder.close()


async def test_responses_answers_the_sdk(sdk: Clients):
    client = sdk[0]()
    whole = await client.responses.create(model="demo", input="Hello there")
    assert whole.status == "completed" and whole.output_text == demo_answer("Hello there")
    async with client.responses.stream(model="demo", input=[
            {"role": "user", "content": "first"}, {"role": "assistant", "content": "ok"},
            {"type": "message", "role": "user",
             "content": [{"type": "input_text", "text": "[[refuse]]"}]}]) as stream:
        kinds = [event.type async for event in stream]
        final = await stream.get_final_response()
    assert squeeze(kinds) == RESPONSE_EVENTS
    assert final.status == "completed" and final.output_text == REFUSAL
    assert final.usage is not None and final.usage.output_tokens == len(REFUSAL.split())


async def test_completions_answers_the_sdk(sdk: Clients):
    client = sdk[0]()
    whole = await client.completions.create(model="demo", prompt="Hello there", n=2)
    assert [c.text for c in whole.choices] == [demo_answer("Hello there")] * 2
    assert {c.finish_reason for c in whole.choices} == {"stop"}
    chunks = [chunk async for chunk in await client.completions.create(
        model="demo", prompt=["ignored", "[[refuse]]"], stream=True)]
    assert len(chunks) > 3, "one chunk per piece"
    assert "".join(chunk.choices[0].text for chunk in chunks) == REFUSAL
    assert chunks[-1].choices[0].finish_reason == "stop"


async def test_messages_answers_the_sdk(sdk: Clients):
    client = sdk[1]()
    whole = await client.messages.create(model="demo", max_tokens=64, messages=[
        {"role": "user", "content": "Hello there"}])
    assert whole.stop_reason == "end_turn" and whole.content[0].type == "text"
    assert whole.content[0].text == demo_answer("Hello there")
    assert whole.usage.output_tokens == len(demo_answer("Hello there").split())
    async with client.messages.stream(model="demo", max_tokens=64, messages=[
            {"role": "user", "content": [{"type": "text", "text": "[[refuse]]"}]}]) as stream:
        text = "".join([piece async for piece in stream.text_stream])
        final = await stream.get_final_message()
    assert text == REFUSAL and final.stop_reason == "end_turn"
    assert final.content[0].type == "text" and final.content[0].text == REFUSAL


async def test_responses_stream_is_the_api_event_sequence(upstream: str):
    events = await sse_events(f"{upstream}/v1/responses",
                              {"model": "demo", "input": "[[refuse]]", "stream": True})
    data = [event.json_object() or {} for event in events]
    assert [event.event for event in events] == [d["type"] for d in data]
    assert squeeze([d["type"] for d in data]) == RESPONSE_EVENTS
    assert [d["sequence_number"] for d in data] == list(range(len(data)))
    deltas = [d["delta"] for d in data if d["type"] == "response.output_text.delta"]
    assert len(deltas) == len(REFUSAL.split(" ")) and "".join(deltas) == REFUSAL
    assert data[-1]["response"]["output"][0]["content"][0]["text"] == REFUSAL


async def test_messages_stream_is_the_api_event_sequence(upstream: str):
    events = await sse_events(f"{upstream}/v1/messages", {
        "model": "demo", "max_tokens": 64, "stream": True,
        "messages": [{"role": "user", "content": "[[refuse]]"}]})
    data = [event.json_object() or {} for event in events]
    assert [event.event for event in events] == [d["type"] for d in data]
    assert squeeze([d["type"] for d in data]) == MESSAGE_EVENTS
    deltas = [d["delta"]["text"] for d in data if d["type"] == "content_block_delta"]
    assert len(deltas) == len(REFUSAL.split(" ")) and "".join(deltas) == REFUSAL
    assert data[-2]["delta"]["stop_reason"] == "end_turn"


@pytest.mark.parametrize(("path", "body"), [
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "[[refuse]]"}]}),
    ("/v1/responses", {"input": "[[refuse]]"}),
    ("/v1/completions", {"prompt": "[[refuse]]"}),
    ("/v1/messages", {"max_tokens": 8, "messages": [{"role": "user", "content": "[[refuse]]"}]}),
])
async def test_every_stream_keeps_the_delay(serve_app: ServeApp, path: str, body: dict):
    delay_ms, pieces = 20, len(REFUSAL.split(" "))
    base = await serve_app(create_demo_upstream(delay_ms=delay_ms))
    started = time.monotonic()
    await sse_events(base + path, {"model": "demo", "stream": True, **body})
    assert time.monotonic() - started >= pieces * delay_ms / 1000


async def test_every_answer_waits_its_first_token(serve_app: ServeApp):
    base = await serve_app(create_demo_upstream(first_token_ms=150))
    for stream in (False, True):
        started = time.monotonic()
        async with httpx.AsyncClient() as client:
            response = await client.post(base + "/v1/chat/completions", json={
                "model": "demo", "stream": stream,
                "messages": [{"role": "user", "content": "hi"}]})
        assert response.status_code == 200
        assert time.monotonic() - started >= 0.15


@pytest.mark.parametrize(("path", "body", "shape"), [
    ("/v1/responses", {"input": 42}, "openai"),
    ("/v1/chat/completions", {"model": "demo"}, "openai"),
    ("/v1/messages", {"messages": "hi"}, "anthropic"),
    ("/v1/completions", b"[1, 2]", "openai"),
])
async def test_a_request_it_cannot_read_is_a_400_in_the_api_shape(
        upstream: str, path: str, body: dict | bytes, shape: str):
    async with httpx.AsyncClient() as client:
        if isinstance(body, bytes):
            response = await client.post(upstream + path, content=body)
        else:
            response = await client.post(upstream + path, json=body)
    assert response.status_code == 400
    error = response.json()
    if shape == "anthropic":
        assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    else:
        assert error["error"]["type"] == "invalid_request_error"


async def test_offensive_answers_get_each_api_blocked_shape(proxy: str, made):
    new_openai, _ = clients(proxy, made)
    whole = await new_openai().responses.create(model="demo", input="[[offend]]")
    assert whole.status == "incomplete" and whole.incomplete_details is not None
    assert whole.incomplete_details.reason == "content_filter"
    assert "idiot" not in whole.output_text
    events = [e async for e in await new_openai().responses.create(
        model="demo", input="[[offend]]", stream=True)]
    assert events[-1].type == "response.incomplete"
    assert events[-1].response.incomplete_details.reason == "content_filter"
    assert "idiot" not in str([e.model_dump() for e in events])
    completion = await new_openai().completions.create(model="demo", prompt="[[offend]]")
    assert completion.choices[0].finish_reason == "content_filter"
    assert "idiot" not in completion.choices[0].text
    chunks = [c async for c in await new_openai().completions.create(
        model="demo", prompt="[[offend]]", stream=True)]
    assert chunks[-1].choices[0].finish_reason == "content_filter"
    assert "idiot" not in "".join(c.choices[0].text for c in chunks)


async def test_offensive_messages_get_stop_reason_refusal(proxy: str, made):
    _, new_anthropic = clients(proxy, made)
    rude = [{"role": "user", "content": "[[offend]]"}]
    whole = await new_anthropic().messages.create(model="demo", max_tokens=64, messages=rude)
    assert whole.stop_reason == "refusal"
    assert "idiot" not in str(whole.content)
    async with new_anthropic().messages.stream(model="demo", max_tokens=64,
                                               messages=rude) as stream:
        kinds = [event.type async for event in stream]
        final = await stream.get_final_message()
    assert kinds[-2:] == ["message_delta", "message_stop"]
    assert final.stop_reason == "refusal" and "idiot" not in str(final.content)
    assert OFFENSIVE not in str(final.content)
