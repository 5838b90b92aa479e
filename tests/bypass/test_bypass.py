"""The bypass suite: offensive text in every place a dialect declares, through the real
proxy, streamed and not. Input rows: the request is refused and the fake upstream never
receives it. Output rows: the answer carries the text; the client never receives it."""

from __future__ import annotations

import importlib

import aiohttp
import orjson
import pytest

from tests.bypass.rows import (
    BAD,
    CHAT_INPUT,
    CHAT_OUTPUT,
    EMBEDDINGS_INPUT,
    MESSAGES_INPUT,
    MESSAGES_OUTPUT,
    SPOKEN,
    STREAM_ERROR_OUTPUT,
    UNPARSED_OUTPUT,
    InputRow,
    OutputRow,
    completions_rows,
    responses_rows,
)
from tests.support.transcriber import FakeTranscriber, serve_transcriber
from tests.support.upstream import Raw, Stream, sse_events

RESPONSES_INPUT, RESPONSES_OUTPUT = responses_rows()
COMPLETIONS_INPUT, COMPLETIONS_OUTPUT = completions_rows()
INPUT_ROWS: list[InputRow] = [*CHAT_INPUT, *MESSAGES_INPUT, *RESPONSES_INPUT,
                              *COMPLETIONS_INPUT, *EMBEDDINGS_INPUT]
OUTPUT_ROWS: list[OutputRow] = [*CHAT_OUTPUT, *MESSAGES_OUTPUT, *RESPONSES_OUTPUT,
                                *COMPLETIONS_OUTPUT, *STREAM_ERROR_OUTPUT, *UNPARSED_OUTPUT]
# dialect -> (module declaring REQUEST_KINDS, module declaring ANSWER_KINDS and STREAM_EVENTS)
DIALECT_MODULES = {"chat_completions": ("proxy.protocol.chat", "proxy.protocol.chat_answer"),
                   "messages": ("proxy.protocol.messages", "proxy.protocol.messages"),
                   "responses": ("proxy.protocol.responses", "proxy.protocol.responses"),
                   "completions": ("proxy.protocol.completions", "proxy.protocol.completions"),
                   "embeddings": ("proxy.protocol.embeddings", "proxy.protocol.embeddings")}
# Dialects whose stream rows also cover every answer kind (Responses streams are covered by
# event type: one realistic stream with the text planted in each event that carries one).
STREAMED_BY_KIND = {"chat_completions", "messages"}
API_PATHS = {"chat_completions": "chat/completions", "responses": "responses",
             "completions": "completions", "messages": "messages", "embeddings": "embeddings"}
CLEAN_REQUESTS = {
    "chat_completions": {"model": "m", "messages": [{"role": "user", "content": "hello"}]},
    "responses": {"model": "m", "input": "hello"},
    "completions": {"model": "m", "prompt": "hello"},
    "messages": {"model": "m", "max_tokens": 16,
                 "messages": [{"role": "user", "content": "hello"}]},
}


@pytest.mark.parametrize("row", INPUT_ROWS, ids=lambda row: row.id)
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_offensive_input_in_any_field_never_reaches_the_upstream(
        start_proxy, fake_upstream, serve_app, row: InputRow, stream: bool):
    # audio is heard by a speech-to-text service: a fake one that hears SPOKEN
    base, _ = await start_proxy(server=await serve_transcriber(
        serve_app, FakeTranscriber(heard=dict(SPOKEN))))
    body = {**row.body, "stream": True} if stream else row.body
    path = row.path or API_PATHS[row.dialect]
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/v1/{path}", json=body) as response:
            text = await response.text()
            assert response.status == 400, text
            assert response.headers["x-safety-decision"] == "block"
    assert fake_upstream.requests == []
    assert BAD not in text  # the block names the check, never the text


@pytest.mark.parametrize("row", OUTPUT_ROWS, ids=lambda row: row.id)
async def test_offensive_output_in_any_field_never_reaches_the_client(
        start_proxy, fake_upstream, serve_app, row: OutputRow):
    base, _ = await start_proxy(server=await serve_transcriber(  # a spoken answer is heard
        serve_app, FakeTranscriber(heard=dict(SPOKEN))))
    if row.events:
        fake_upstream.answer = lambda body: Stream(sse_events(row.events))
    else:
        fake_upstream.answer = lambda body: row.answer
    request = {**CLEAN_REQUESTS[row.dialect], "stream": bool(row.events)}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/v1/{API_PATHS[row.dialect]}", json=request) as response:
            text = await response.text()
            assert response.status == 200, text
            if not row.events:
                assert response.headers["x-safety-decision"] == "block"
    assert len(fake_upstream.requests) == 1
    assert BAD not in text
    assert "content_filter" in text or '"refusal"' in text


@pytest.mark.parametrize("dialect", sorted(DIALECT_MODULES))
def test_every_declared_kind_has_a_row(dialect: str):
    request_module, answer_module = (importlib.import_module(name)
                                     for name in DIALECT_MODULES[dialect])
    rows = [row for row in OUTPUT_ROWS if row.dialect == dialect]
    assert {row.kind for row in INPUT_ROWS if row.dialect == dialect} == set(
        request_module.REQUEST_KINDS)
    assert {row.kind for row in rows if not row.events} == set(answer_module.ANSWER_KINDS)
    # every declared event type (and unknown ones, read as extensions, may have rows too)
    assert {row.event for row in rows if row.events} >= set(answer_module.STREAM_EVENTS)
    if dialect in STREAMED_BY_KIND:  # every answer kind, streamed too
        assert {row.kind for row in rows if row.events} == set(answer_module.ANSWER_KINDS)


# An upstream error can quote what the model wrote (an upstream guard's verdict, a tool call
# that failed to parse); its strings are checked like an answer's.
UPSTREAM_ERRORS = {
    "chat_completions": {"error": {"message": f"tool call did not parse: {BAD}",
                                   "type": "invalid_request_error", "param": None,
                                   "code": None}},
    "messages": {"type": "error", "error": {"type": "invalid_request_error",
                                            "message": f"blocked by guardrail: {BAD}"}},
}


@pytest.mark.parametrize("dialect", sorted(UPSTREAM_ERRORS))
async def test_an_upstream_error_quoting_offensive_text_is_not_relayed(
        start_proxy, fake_upstream, dialect: str):
    fake_upstream.answer = lambda body: Raw(400, orjson.dumps(UPSTREAM_ERRORS[dialect]))
    base, _ = await start_proxy()
    async with aiohttp.ClientSession() as session:
        url = f"{base}/v1/{API_PATHS[dialect]}"
        async with session.post(url, json=CLEAN_REQUESTS[dialect]) as response:
            text = await response.text()
            assert response.status == 400, text  # the upstream's status, as before
            assert response.headers["x-safety-decision"] == "block"
        clean = {**UPSTREAM_ERRORS[dialect]}
        clean["error"] = {**clean["error"], "message": "max_tokens: too large"}
        fake_upstream.answer = lambda body: Raw(400, orjson.dumps(clean))
        async with session.post(url, json=CLEAN_REQUESTS[dialect]) as response:
            assert response.status == 400
            assert await response.json() == clean  # a clean error is relayed as it was
            assert response.headers["x-safety-decision"] == "allow"
    assert BAD not in text
    assert "the upstream model API answered 400" in text


# JSON readers differ on a repeated key (the proxy's keeps the last copy, some clients the
# first): what was read is written again from what was scored, so the copy that was not
# scored never reaches the client, whichever of the two it is.
def repeated(bad_first: bool) -> str:
    """Two copies of "content": the offensive one first or last."""
    bad, clean = f'"{BAD} here"', '"hello there"'
    first, last = (bad, clean) if bad_first else (clean, bad)
    return f'"content":{first},"content":{last}'


async def post_chat(base: str, **extra: object) -> tuple[int, str, str]:
    """A clean chat request: the answer's status, text and decision header."""
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/v1/chat/completions",
                                json={**CLEAN_REQUESTS["chat_completions"], **extra}) as response:
            return (response.status, await response.text(),
                    response.headers["x-safety-decision"])


@pytest.mark.parametrize("bad_first", [True, False], ids=["first", "last"])
async def test_an_answer_with_a_repeated_key_reaches_the_client_as_it_was_scored(
        start_proxy, fake_upstream, bad_first: bool):
    raw = ('{"id":"c1","object":"chat.completion","created":0,"model":"m","choices":[{'
           f'"index":0,"message":{{"role":"assistant",{repeated(bad_first)}}},'
           '"finish_reason":"stop"}]}')
    fake_upstream.answer = lambda body: Raw(200, raw.encode())
    base, _ = await start_proxy()
    status, text, decision = await post_chat(base)
    assert status == 200 and BAD not in text
    assert decision == ("allow" if bad_first else "block")
    if bad_first:  # scored "hello there", and only that is sent
        assert text.count('"content"') == 1 and "hello there" in text


@pytest.mark.parametrize(("bad_first", "mode"), [
    (True, "buffered"), (True, "low_latency"),
    # Offensive last is the copy read: buffered mode never sends it (low-latency mode may
    # send a blocked window before its cut, as for any text: README, Streaming modes).
    (False, "buffered")])
async def test_a_stream_event_with_a_repeated_key_reaches_the_client_as_it_was_scored(
        start_proxy, fake_upstream, bad_first: bool, mode: str):
    head = '"id":"c1","object":"chat.completion.chunk","created":0,"model":"m"'
    events = [f'{{{head},"choices":[{{"index":0,"delta":{{"role":"assistant",'
              f'{repeated(bad_first)}}},"finish_reason":null}}]}}',
              f'{{{head},"choices":[{{"index":0,"delta":{{}},"finish_reason":"stop"}}]}}',
              "[DONE]"]
    fake_upstream.answer = lambda body: Stream([f"data: {e}\n\n".encode() for e in events])
    base, _ = await start_proxy(streaming={"mode": mode})
    _, text, _ = await post_chat(base, stream=True)
    assert BAD not in text
    if bad_first:  # scored and sent: "hello there" alone, and the stream's end
        assert "hello there" in text and text.count('"content"') == 1
        assert '"finish_reason":"stop"' in text and text.endswith("data: [DONE]\n\n")
    else:
        assert '"finish_reason":"content_filter"' in text


async def test_an_upstream_error_with_a_repeated_key_is_relayed_as_it_was_scored(
        start_proxy, fake_upstream):
    bad, clean = f'"tool call did not parse: {BAD}"', '"max_tokens: too large"'
    raw = f'{{"error":{{"message":{bad},"message":{clean},"type":"invalid_request_error"}}}}'
    fake_upstream.answer = lambda body: Raw(400, raw.encode())
    base, _ = await start_proxy()
    status, text, _ = await post_chat(base)
    assert status == 400 and BAD not in text
    assert orjson.loads(text) == {"error": {"message": "max_tokens: too large",
                                            "type": "invalid_request_error"}}


async def test_fragments_join_within_a_request_but_never_across_a_batch(start_proxy,
                                                                       fake_upstream):
    """BAD and WORD are innocent alone (the scripted check blocks BADWORD): a prompt and
    its suffix are one request, read joined; a list of prompts is a batch of requests."""
    base, _ = await start_proxy()
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/v1/completions", json={
                "model": "m", "prompt": "BAD", "suffix": "WORD"}) as response:
            assert response.status == 400
        async with session.post(f"{base}/v1/completions", json={
                "model": "m", "prompt": ["BAD", "WORD"]}) as response:
            assert response.status == 200
    assert len(fake_upstream.requests) == 1
