"""An upstream stream that breaks off midway ends, for the client, with that API's own
in-band error event: the proxy never leaves a client waiting on a half stream."""

from __future__ import annotations

import aiohttp
import orjson
import pytest

from proxy.protocol import sse
from tests.bypass.rows import chat_delta_events, message_events
from tests.support.upstream import Raw, Stream, chat_chunk, chat_completion, sse_events

CASES = {  # dialect: (API path, request, events of a healthy stream, the error it must end in)
    "chat_completions": ("chat/completions",
                         {"model": "m", "messages": [{"role": "user", "content": "hi"}]},
                         chat_delta_events(content="Hello there"), "upstream_stream_broken"),
    "messages": ("messages", {"model": "c", "max_tokens": 9,
                              "messages": [{"role": "user", "content": "hi"}]},
                 message_events({"type": "text", "text": ""},
                                 {"type": "text_delta", "text": "Hello there"}), "api_error"),
    "responses": ("responses", {"model": "m", "input": "hi"},
                  [("response.created", {"type": "response.created", "sequence_number": 0,
                                         "response": {"id": "resp_1", "object": "response",
                                                      "status": "in_progress", "output": []}}),
                   ("response.output_text.delta", {
                       "type": "response.output_text.delta", "sequence_number": 1,
                       "item_id": "msg_1", "output_index": 0, "content_index": 0,
                       "delta": "Hello there"}),
                   ("response.output_text.delta", {
                       "type": "response.output_text.delta", "sequence_number": 2,
                       "item_id": "msg_1", "output_index": 0, "content_index": 0,
                       "delta": " again"})], "upstream_stream_broken"),
}


@pytest.mark.parametrize("dialect", sorted(CASES))
async def test_a_broken_upstream_stream_ends_in_the_apis_own_error_event(
        start_proxy, fake_upstream, dialect):
    path, request, events, error = CASES[dialect]
    fake_upstream.answer = lambda body: Stream(sse_events(events), drop_after=2)
    base, _ = await start_proxy()
    async with aiohttp.ClientSession() as session, session.post(
            f"{base}/v1/{path}", json={**request, "stream": True}) as response:
        raw = await response.read()
    decoder = sse.SSEDecoder()
    received = decoder.feed(raw) + decoder.close()
    last = received[-1] if dialect != "chat_completions" else received[-2]
    assert error in last.data
    if dialect == "chat_completions":
        assert received[-1].is_done
    else:
        assert last.event == "error"


async def test_a_stream_blocked_at_the_end_keeps_its_usage_chunk_last(start_proxy,
                                                                    fake_upstream):
    """stream_options.include_usage: the usage chunk follows the finish; when the whole
    answer is blocked at the end, the client still gets it, after the cut and before
    [DONE]."""
    events = chat_delta_events(content="a polite answer, then BADWORD")
    usage = chat_chunk({}, choices=[],
                       usage={"prompt_tokens": 3, "completion_tokens": 7, "total_tokens": 10})
    events.insert(-1, (None, usage))
    fake_upstream.answer = lambda body: Stream(sse_events(events))
    base, _ = await start_proxy(streaming={"mode": "buffered", "window_chars": 400,
                                           "context_chars": 16})
    request = {"model": "m", "stream": True, "stream_options": {"include_usage": True},
               "messages": [{"role": "user", "content": "hi"}]}
    async with aiohttp.ClientSession() as session, session.post(
            f"{base}/v1/chat/completions", json=request) as response:
        raw = await response.read()
    decoder = sse.SSEDecoder()
    received = decoder.feed(raw) + decoder.close()
    assert b"BADWORD" not in raw
    assert received[-1].is_done
    assert orjson.loads(received[-2].data)["usage"]["total_tokens"] == 10
    finish = orjson.loads(received[-3].data)
    assert finish["choices"][0]["finish_reason"] == "content_filter"


async def test_a_cut_stream_records_every_score_of_its_windows(start_proxy, fake_upstream):
    """The window that cuts a stream keeps its whole moderation: labels below every
    threshold are observed too (score distributions, review events, replay)."""
    chunks = sse_events(chat_delta_events(content="x" * 50 + " BADWORD " + "y" * 50))
    fake_upstream.answer = lambda body: Stream(chunks)
    base, _ = await start_proxy()
    request = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/v1/chat/completions", json=request) as response:
            assert b"BADWORD" not in await response.read()
        async with session.get(f"{base}/metrics") as response:
            metrics = await response.text()
    observed = ('safety_proxy_classifier_score_count{classifier="script",direction="output",'
                'label="meh"} 1.0')
    assert observed in metrics


def nested(depth: int, leaf: str) -> object:
    value: object = leaf
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("mode", ["buffered", "low_latency"])
async def test_an_event_too_deep_to_check_ends_the_stream_as_broken(start_proxy, fake_upstream,
                                                                  mode):
    """The answer readers refuse JSON nested past 64 levels, as the request parser does: an
    upstream event that deep cannot be checked, so it is never relayed; the client gets the
    API's error event, and the request is an upstream fault, not the client's."""
    events = chat_delta_events(content="Hello there")
    events[1] = (None, chat_chunk({"content": "ok", "vendor": nested(100, "BADWORD")}))
    fake_upstream.answer = lambda body: Stream(sse_events(events))
    base, _ = await start_proxy(streaming={"mode": mode})
    path, request, _, error = CASES["chat_completions"]
    async with aiohttp.ClientSession() as session, session.post(
            f"{base}/v1/{path}", json={**request, "stream": True}) as response:
        assert response.status == 200
        raw = await response.read()
    received = sse.SSEDecoder().feed(raw)
    assert b"BADWORD" not in raw and b"vendor" not in raw
    assert error in received[-2].data and received[-1].is_done


async def test_an_answer_too_deep_to_check_is_a_502(start_proxy, fake_upstream):
    answer = chat_completion({"role": "assistant", "content": "ok",
                              "vendor": nested(100, "BADWORD")})
    fake_upstream.answer = lambda body: answer
    base, _ = await start_proxy()
    path, request, _, _ = CASES["chat_completions"]
    async with aiohttp.ClientSession() as session, session.post(
            f"{base}/v1/{path}", json=request) as response:
        body = await response.json()
    assert response.status == 502 and body["error"]["type"] == "upstream_error"
    assert "nested too deeply" in body["error"]["message"]
    assert "BADWORD" not in str(body)


async def test_an_answer_nobody_reads_is_relayed_as_it_came_however_deep(start_proxy,
                                                                         fake_upstream):
    """With no output check and no record of texts, the answer is not read: relayed byte
    for byte, even nested past what orjson writes again (a 500 if it were re-serialised)."""
    deep = b'{"a":' * 300 + b'"deep"' + b"}" * 300
    sent = orjson.dumps(chat_completion({"role": "assistant", "content": "ok"})).replace(
        b'"content":"ok"', b'"content":"ok",  "vendor": ' + deep)
    fake_upstream.answer = lambda body: Raw(200, sent)
    base, _ = await start_proxy(checks=[], policy={"input": {}, "output": {},
                                                   "toxic_labels": [], "refusal_label": None})
    path, request, _, _ = CASES["chat_completions"]
    async with aiohttp.ClientSession() as session, session.post(
            f"{base}/v1/{path}", json=request) as response:
        relayed = await response.read()
    assert response.status == 200 and response.headers["x-safety-decision"] == "allow"
    assert relayed == sent
