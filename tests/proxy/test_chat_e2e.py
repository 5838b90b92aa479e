"""End to end: the official openai SDK -> the proxy -> a fake upstream, all on loopback."""

from __future__ import annotations

import re

import aiohttp
import openai
import pytest

from tests.support.upstream import FakeUpstream, Stream, completion, sse_chunks


async def test_clean_prompt_passes_with_headers(start_proxy, openai_client, fake_upstream):
    base, _ = await start_proxy()
    client = openai_client(base)
    raw = await client.chat.completions.with_raw_response.create(
        model="m", messages=[{"role": "user", "content": "hello"}])
    answer = raw.parse()
    assert answer.choices[0].message.content == "Hello there!"
    assert raw.headers["x-safety-decision"] == "allow"
    assert len(raw.headers["x-request-id"]) >= 16
    assert fake_upstream.requests[0]["messages"] == [{"role": "user", "content": "hello"}]


async def test_offensive_prompt_gets_content_filter_envelope(start_proxy, openai_client,
                                                             fake_upstream):
    base, _ = await start_proxy()
    with pytest.raises(openai.BadRequestError) as caught:
        await openai_client(base).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "you BADWORD"}])
    error = caught.value
    assert error.status_code == 400
    assert error.code == "content_filter" and error.param == "messages"
    assert error.response.headers["x-safety-decision"] == "block"
    safety = error.response.json()["safety"]
    assert safety["direction"] == "input"
    assert safety["reasons"] == [{"classifier": "script", "label": "bad", "score": 1.0,
                                  "threshold": 0.9, "action": "block"}]
    assert fake_upstream.requests == []  # nothing went upstream


async def test_input_block_as_refusal_completion(start_proxy, openai_client):
    base, _ = await start_proxy(policy={"input_block_style": "refusal", "refusal_text": "No.",
                                        "input": {"script": {"bad": {"block": 0.9}}}})
    client = openai_client(base)
    answer = await client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "BADWORD"}])
    assert answer.choices[0].message.content == "No."
    assert answer.choices[0].finish_reason == "content_filter"
    stream = await client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "BADWORD"}], stream=True)
    chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "No."
    assert chunks[-1].choices[0].finish_reason == "content_filter"


async def test_blocked_answer_is_replaced_only_in_its_choice(start_proxy, openai_client,
                                                             fake_upstream: FakeUpstream):
    fake_upstream.answer = lambda body: completion("a fine answer", "a BADWORD answer")
    base, _ = await start_proxy()
    raw = await openai_client(base).chat.completions.with_raw_response.create(
        model="m", n=2, messages=[{"role": "user", "content": "hi"}])
    answer = raw.parse()
    assert answer.choices[0].message.content == "a fine answer"
    assert answer.choices[0].finish_reason == "stop"
    assert answer.choices[1].finish_reason == "content_filter"
    assert "BADWORD" not in (answer.choices[1].message.content or "")
    assert raw.headers["x-safety-decision"] == "block"
    assert answer.model_extra["safety"]["direction"] == "output"


async def test_tool_call_arguments_are_scored(start_proxy, openai_client, fake_upstream):
    fake_upstream.answer = lambda body: completion("calling a tool",
                                                   tool_arguments='{"q": "BADWORD"}')
    base, _ = await start_proxy()
    answer = await openai_client(base).chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].finish_reason == "content_filter"
    assert not answer.choices[0].message.tool_calls


async def test_flag_passes_answer_unchanged(start_proxy, openai_client, fake_upstream):
    fake_upstream.answer = lambda body: completion("a MEHWORD answer")
    base, app = await start_proxy()
    raw = await openai_client(base).chat.completions.with_raw_response.create(
        model="m", messages=[{"role": "user", "content": "hi"}])
    assert raw.parse().choices[0].message.content == "a MEHWORD answer"
    assert raw.headers["x-safety-decision"] == "flag"


async def collect(stream) -> tuple[str, str | None, list]:
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finish = next((c.choices[0].finish_reason for c in reversed(chunks)
                   if c.choices and c.choices[0].finish_reason), None)
    return text, finish, chunks


LONG_CLEAN = [f"word{i} " for i in range(60)]


async def test_stream_clean_relays_everything(start_proxy, openai_client, fake_upstream):
    fake_upstream.answer = lambda body: Stream(sse_chunks(LONG_CLEAN))
    for mode in ("buffered", "low_latency"):
        base, _ = await start_proxy(streaming={"mode": mode})
        text, finish, _ = await collect(await openai_client(base).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], stream=True))
        assert text == "".join(LONG_CLEAN)
        assert finish == "stop"


@pytest.mark.parametrize("mode", ["buffered", "low_latency"])
async def test_stream_is_cut_at_blocked_window(start_proxy, openai_client, fake_upstream, mode):
    pieces = [*LONG_CLEAN[:30], "BAD", "WORD ", *LONG_CLEAN[30:]]  # split across events
    fake_upstream.answer = lambda body: Stream(sse_chunks(pieces))
    base, _ = await start_proxy(streaming={"mode": mode, "window_chars": 40})
    text, finish, chunks = await collect(await openai_client(base).chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}], stream=True))
    assert finish == "content_filter"
    assert chunks[-1].model_extra["safety"]["decision"] == "block"
    before = "".join(LONG_CLEAN[:30])
    if mode == "buffered":
        assert "BAD" not in text  # no blocked window ever reaches the client
        assert before.startswith(text) and len(text) >= 40
    else:
        assert len(text) < len(before) + 5 + 2 * 40  # leak bound: under two windows
    assert "word59" not in text


async def test_an_in_process_check_cuts_a_low_latency_stream_within_one_window(
        start_proxy, openai_client, fake_upstream):
    """An in-process check decides a full window at once, before the event that filled
    it is relayed (stream_relay.py): under one window of text after the clean part reaches
    the client, where a check that waits lets up to one more through."""
    insult = ["fuck ", "you ", "idiot "]
    fake_upstream.answer = lambda body: Stream(sse_chunks([*LONG_CLEAN[:30], *insult,
                                                           *LONG_CLEAN[30:]]))
    base, _ = await start_proxy(
        checks=[{"name": "toxicity", "type": "profanity", "directions": ["output"],
                 "timeout_s": 1.0}],
        policy={"input": {}, "output": {"toxicity": {"profane": {"block": 0.8}}},
                "toxic_labels": [], "refusal_label": None},
        streaming={"mode": "low_latency", "window_chars": 40, "context_chars": 16})
    text, finish, chunks = await collect(await openai_client(base).chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}], stream=True))
    assert finish == "content_filter"
    assert chunks[-1].model_extra["safety"]["decision"] == "block"
    clean = "".join(LONG_CLEAN[:30])
    assert text.startswith(clean[:len(clean) - 40])
    # "idiot " fills the window that holds the insult: decided before it is relayed (a
    # check that waits let it through, and "word30 " after it)
    assert text.endswith("fuck you ") and "idiot" not in text


async def test_phrase_split_across_windows_is_caught(start_proxy, openai_client, fake_upstream):
    # 'BADWORD' straddles the 40-char window boundary; the carried context sees it whole.
    text = "x" * 37 + "BADWORD" + " tail" * 20
    pieces = [text[i:i + 3] for i in range(0, len(text), 3)]
    fake_upstream.answer = lambda body: Stream(sse_chunks(pieces))
    base, _ = await start_proxy(streaming={"window_chars": 40, "context_chars": 16})
    got, finish, _ = await collect(await openai_client(base).chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}], stream=True))
    assert finish == "content_filter"
    assert "BADWORD" not in got


async def test_unknown_fields_pass_through_untouched(start_proxy, fake_upstream):
    base, _ = await start_proxy()
    body = {"model": "m", "messages": [{"role": "user", "content": "hi", "name": "x"}],
            "x_custom": {"nested": [1, 2]}, "temperature": 0.3}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/v1/chat/completions", json=body) as response:
            assert response.status == 200
    assert fake_upstream.requests[0] == body


async def test_image_parts_pass_through_and_are_counted(start_proxy, fake_upstream):
    base, app = await start_proxy()
    content = [{"type": "text", "text": "what is this"},
               {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/v1/chat/completions", json={
                "model": "m", "messages": [{"role": "user", "content": content}]}) as response:
            assert response.status == 200
        async with session.get(f"{base}/metrics") as response:
            metrics = await response.text()
    assert fake_upstream.requests[0]["messages"][0]["content"] == content
    assert 'safety_proxy_unscanned_parts_total{direction="input"} 1.0' in metrics


async def test_text_parts_and_tool_messages_are_scored(start_proxy):
    base, _ = await start_proxy()
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "look: BADWORD"}]},
        {"role": "tool", "tool_call_id": "t1", "content": "clean"},
    ]
    tool_messages = [{"role": "user", "content": "hi"},
                     {"role": "tool", "tool_call_id": "t1", "content": "result BADWORD"}]
    async with aiohttp.ClientSession() as session:
        for conversation in (messages, tool_messages):
            async with session.post(f"{base}/v1/chat/completions",
                                    json={"model": "m", "messages": conversation}) as response:
                assert response.status == 400
                assert (await response.json())["error"]["code"] == "content_filter"


async def test_client_request_id_is_echoed(start_proxy):
    base, _ = await start_proxy()
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/v1/chat/completions", headers={"x-request-id": "abc-1"},
                                json={"model": "m", "messages": [{"role": "user",
                                                                  "content": "hi"}]}) as response:
            assert response.headers["x-request-id"] == "abc-1"


async def test_checks_with_windows_off_see_only_the_whole_answer(start_proxy, openai_client,
                                                                 fake_upstream):
    from tests.support.scripted import ScriptedClassifier

    judge = {"name": "judge", "type": "scripted", "directions": ["output"], "windows": False,
             "normalize": False,
             "options": {"labels": ["bad"]}}
    script = {"name": "script", "type": "scripted", "options": {"labels": ["bad", "meh"]}}
    fake_upstream.answer = lambda body: Stream(sse_chunks(LONG_CLEAN))
    base, _ = await start_proxy(checks=[script, judge])
    text, finish, _ = await collect(await openai_client(base).chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}], stream=True))
    assert finish == "stop"
    judge_instance = next(c for c in reversed(ScriptedClassifier.instances) if c.name == "judge")
    script_instance = next(c for c in reversed(ScriptedClassifier.instances)
                           if c.name == "script")
    assert judge_instance.texts_seen == ["".join(LONG_CLEAN)]  # one call, the whole answer
    assert script_instance.calls > 2  # windows, plus the input and the whole answer


async def test_stream_without_output_checks_is_relayed_byte_for_byte(start_proxy, fake_upstream):
    chunks = sse_chunks(["odd ", "bytes"])
    chunks.insert(1, b": a comment the proxy would otherwise drop\n\n")
    fake_upstream.answer = lambda body: Stream(chunks)
    input_only = {"name": "script", "type": "scripted", "directions": ["input"],
                  "options": {"labels": ["bad", "meh"]}}
    thresholds = {"script": {"bad": {"block": 0.9}}}
    base, _ = await start_proxy(checks=[input_only],
                                policy={"input": thresholds, "output": {}})
    import aiohttp

    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/v1/chat/completions", json={
                "model": "m", "stream": True,
                "messages": [{"role": "user", "content": "hi"}]}) as response:
            assert await response.read() == b"".join(chunks)


async def test_a_missing_or_unsafe_request_id_is_replaced_by_a_fresh_one(start_proxy):
    base, _ = await start_proxy()
    seen = []
    async with aiohttp.ClientSession() as session:
        for sent in ({}, {"x-request-id": "two words"}, {}):
            async with session.post(f"{base}/v1/chat/completions", headers=sent,
                                    json={"model": "m", "messages": [
                                        {"role": "user", "content": "hi"}]}) as response:
                assert response.status == 200
                seen.append(response.headers["x-request-id"])
    assert all(re.fullmatch(r"[0-9a-f]{32}", one) for one in seen), seen
    assert len(set(seen)) == 3
