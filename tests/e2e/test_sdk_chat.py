"""End to end, Chat Completions: the official openai SDK -> the proxy -> a fake upstream that
speaks the real wire format, for each outcome (allow, flag, input block, output block),
whole and streamed."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.e2e.support import (
    BAD,
    BAD_FIRST,
    BAD_LATE,
    BAD_REASON,
    CLEAN,
    CLEAN_TEXT,
    MEH,
    REFUSAL_STYLE,
    REFUSAL_TEXT,
    STREAMED,
    assert_content_filter,
    chat_answer,
    chat_completion,
    openai_client,
)

client = openai_client


def ask(prompt: str) -> dict[str, Any]:
    return {"model": "gpt-4o", "messages": [{"role": "user", "content": prompt}]}


async def complete(base: str, prompt: str, **extra: Any) -> tuple[Any, Any, str]:
    """A whole completion: (headers, the parsed completion, the raw body)."""
    async with client(base) as sdk:
        raw = await sdk.chat.completions.with_raw_response.create(**ask(prompt), **extra)
        return raw.headers, raw.parse(), raw.text


async def stream_chunks(base: str, prompt: str, **extra: Any) -> tuple[Any, list[Any]]:
    """A streamed completion: (headers, every chunk the SDK yielded)."""
    async with client(base) as sdk, sdk.chat.completions.with_streaming_response.create(
            **ask(prompt), stream=True, **extra) as response:
        return response.headers, [chunk async for chunk in await response.parse()]


def text_of(chunks: list[Any], index: int = 0) -> str:
    return "".join(choice.delta.content or "" for chunk in chunks for choice in chunk.choices
                   if choice.index == index)


def finish_of(chunks: list[Any]) -> str | None:
    return next((choice.finish_reason for chunk in reversed(chunks)
                 for choice in chunk.choices if choice.finish_reason), None)


@STREAMED
@pytest.mark.parametrize(("prompt", "decision"), [("hello", "allow"), (f"hello {MEH}", "flag")])
async def test_clean_answer_passes_unchanged(start_proxy, fake_upstream, stream, prompt,
                                             decision):
    fake_upstream.answer = chat_answer(CLEAN)
    base, _ = await start_proxy()
    if stream:
        headers, chunks = await stream_chunks(base, prompt)
        assert text_of(chunks) == CLEAN_TEXT
        assert finish_of(chunks) == "stop"
        assert chunks[-1].id == "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT"
    else:
        headers, completion, _ = await complete(base, prompt)
        assert completion.choices[0].message.content == CLEAN_TEXT
        assert completion.choices[0].finish_reason == "stop"
        assert completion.usage.total_tokens == 75
    assert headers["x-safety-decision"] == decision
    assert fake_upstream.requests[0]["messages"] == [{"role": "user", "content": prompt}]


@STREAMED
async def test_input_block_is_a_content_filter_error(start_proxy, fake_upstream, stream):
    fake_upstream.answer = chat_answer(CLEAN)
    base, _ = await start_proxy()
    async with client(base) as sdk:
        with pytest.raises(openai.BadRequestError) as caught:
            await sdk.chat.completions.create(**ask(f"you {BAD}"), stream=stream)
    error = caught.value
    assert_content_filter(error, "messages")
    assert fake_upstream.requests == []


@STREAMED
async def test_input_block_in_refusal_style(start_proxy, fake_upstream, stream):
    fake_upstream.answer = chat_answer(CLEAN)
    base, _ = await start_proxy(policy=REFUSAL_STYLE)
    if stream:
        headers, chunks = await stream_chunks(base, f"you {BAD}")
        assert text_of(chunks) == REFUSAL_TEXT
        assert finish_of(chunks) == "content_filter"
    else:
        headers, completion, _ = await complete(base, f"you {BAD}")
        assert completion.choices[0].message.content == REFUSAL_TEXT
        assert completion.choices[0].finish_reason == "content_filter"
        assert completion.model_extra["safety"]["reasons"] == [BAD_REASON]
    assert headers["x-safety-decision"] == "block"
    assert fake_upstream.requests == []


async def test_output_block_replaces_the_answer(start_proxy, fake_upstream):
    fake_upstream.answer = chat_answer(BAD_LATE)
    base, _ = await start_proxy()
    headers, completion, raw = await complete(base, "hello")
    choice = completion.choices[0]
    assert choice.message.content == REFUSAL_TEXT
    assert choice.finish_reason == "content_filter"
    assert completion.model_extra["safety"]["direction"] == "output"
    assert completion.model_extra["safety"]["reasons"] == [BAD_REASON]
    assert headers["x-safety-decision"] == "block"
    assert BAD not in raw


async def test_output_block_of_one_choice_of_two(start_proxy, fake_upstream):
    fake_upstream.answer = lambda body: chat_completion(CLEAN_TEXT, f"a {BAD} answer")
    base, _ = await start_proxy()
    headers, completion, raw = await complete(base, "hello", n=2)
    kept, replaced = completion.choices
    assert (kept.index, kept.message.content, kept.finish_reason) == (0, CLEAN_TEXT, "stop")
    assert (replaced.index, replaced.message.content, replaced.finish_reason) == (
        1, REFUSAL_TEXT, "content_filter")
    assert headers["x-safety-decision"] == "block"
    assert BAD not in raw


async def test_stream_cut_after_clean_text(start_proxy, fake_upstream):
    fake_upstream.answer = chat_answer(BAD_LATE)
    base, _ = await start_proxy()
    _, chunks = await stream_chunks(base, "hello")
    text = text_of(chunks)
    assert len(text) >= 40 and CLEAN_TEXT.startswith(text)  # clean text, then the cut
    assert chunks[-1].choices[0].finish_reason == "content_filter"
    assert chunks[-1].model_extra["safety"]["reasons"] == [BAD_REASON]
    assert REFUSAL_TEXT not in text
    assert all(BAD not in chunk.model_dump_json() for chunk in chunks)


async def test_stream_cut_before_any_text_carries_the_refusal(start_proxy, fake_upstream):
    fake_upstream.answer = chat_answer(BAD_FIRST)
    base, _ = await start_proxy()
    _, chunks = await stream_chunks(base, "hello")
    assert text_of(chunks) == REFUSAL_TEXT
    assert chunks[-1].choices[0].finish_reason == "content_filter"
    assert all(BAD not in chunk.model_dump_json() for chunk in chunks)


async def test_usage_chunk_comes_last(start_proxy, fake_upstream):
    fake_upstream.answer = chat_answer(CLEAN, usage=True)
    base, _ = await start_proxy()
    headers, chunks = await stream_chunks(base, "hello",
                                          stream_options={"include_usage": True})
    assert text_of(chunks) == CLEAN_TEXT
    assert finish_of(chunks) == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == 75
    assert headers["x-safety-decision"] == "allow"


async def test_usage_chunk_comes_last_after_a_cut_at_the_end(start_proxy, fake_upstream):
    """DESIGN.md: a cut chat stream ends with the content_filter chunk, "the usage chunk
    last, then [DONE]". BAD in the last delta: the cut comes when the upstream has sent its
    usage chunk already."""
    fake_upstream.answer = chat_answer([*CLEAN, f"then {BAD}."], usage=True)
    base, _ = await start_proxy()
    _, chunks = await stream_chunks(base, "hello", stream_options={"include_usage": True})
    assert finish_of(chunks) == "content_filter"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
