"""End to end, legacy Completions: the official openai SDK -> the proxy -> a fake upstream that
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
    COMPLETION_ID,
    MEH,
    REFUSAL_STYLE,
    REFUSAL_TEXT,
    STREAMED,
    assert_content_filter,
    completions_answer,
    openai_client,
)

client = openai_client


def ask(prompt: str) -> dict[str, Any]:
    return {"model": "gpt-3.5-turbo-instruct", "prompt": prompt, "max_tokens": 64}


async def complete(base: str, prompt: str) -> tuple[Any, Any, str]:
    """A whole completion: (headers, the parsed completion, the raw body)."""
    async with client(base) as sdk:
        raw = await sdk.completions.with_raw_response.create(**ask(prompt))
        return raw.headers, raw.parse(), raw.text


async def stream_chunks(base: str, prompt: str) -> tuple[Any, list[Any]]:
    """A streamed completion: (headers, every chunk the SDK yielded)."""
    async with client(base) as sdk, sdk.completions.with_streaming_response.create(
            **ask(prompt), stream=True) as response:
        return response.headers, [chunk async for chunk in await response.parse()]


def text_of(chunks: list[Any]) -> str:
    return "".join(choice.text for chunk in chunks for choice in chunk.choices)


def finish_of(chunks: list[Any]) -> str | None:
    return next((choice.finish_reason for chunk in reversed(chunks)
                 for choice in chunk.choices if choice.finish_reason), None)


@STREAMED
@pytest.mark.parametrize(("prompt", "decision"), [("hello", "allow"), (f"hello {MEH}", "flag")])
async def test_clean_answer_passes_unchanged(start_proxy, fake_upstream, stream, prompt,
                                             decision):
    fake_upstream.answer = completions_answer(CLEAN)
    base, _ = await start_proxy()
    if stream:
        headers, chunks = await stream_chunks(base, prompt)
        assert text_of(chunks) == CLEAN_TEXT
        assert finish_of(chunks) == "stop"
        assert {chunk.id for chunk in chunks} == {COMPLETION_ID}
    else:
        headers, completion, _ = await complete(base, prompt)
        assert completion.choices[0].text == CLEAN_TEXT
        assert completion.choices[0].finish_reason == "stop"
        assert completion.usage.total_tokens == 12
    assert headers["x-safety-decision"] == decision
    assert fake_upstream.requests[0]["prompt"] == prompt


@STREAMED
async def test_input_block_is_a_content_filter_error(start_proxy, fake_upstream, stream):
    fake_upstream.answer = completions_answer(CLEAN)
    base, _ = await start_proxy()
    async with client(base) as sdk:
        with pytest.raises(openai.BadRequestError) as caught:
            await sdk.completions.create(**ask(f"you {BAD}"), stream=stream)
    error = caught.value
    assert_content_filter(error, "prompt")
    assert fake_upstream.requests == []


@STREAMED
async def test_input_block_in_refusal_style(start_proxy, fake_upstream, stream):
    fake_upstream.answer = completions_answer(CLEAN)
    base, _ = await start_proxy(policy=REFUSAL_STYLE)
    if stream:
        headers, chunks = await stream_chunks(base, f"you {BAD}")
        assert text_of(chunks) == REFUSAL_TEXT
        assert finish_of(chunks) == "content_filter"
    else:
        headers, completion, _ = await complete(base, f"you {BAD}")
        assert completion.choices[0].text == REFUSAL_TEXT
        assert completion.choices[0].finish_reason == "content_filter"
        assert completion.model_extra["safety"]["reasons"] == [BAD_REASON]
    assert headers["x-safety-decision"] == "block"
    assert fake_upstream.requests == []


async def test_output_block_replaces_the_answer(start_proxy, fake_upstream):
    fake_upstream.answer = completions_answer(BAD_LATE)
    base, _ = await start_proxy()
    headers, completion, raw = await complete(base, "hello")
    choice = completion.choices[0]
    assert (choice.text, choice.finish_reason) == (REFUSAL_TEXT, "content_filter")
    assert completion.model_extra["safety"]["direction"] == "output"
    assert headers["x-safety-decision"] == "block"
    assert BAD not in raw


async def test_stream_cut_after_clean_text(start_proxy, fake_upstream):
    fake_upstream.answer = completions_answer(BAD_LATE)
    base, _ = await start_proxy()
    _, chunks = await stream_chunks(base, "hello")
    text = text_of(chunks)
    assert len(text) >= 40 and CLEAN_TEXT.startswith(text)  # clean text, then the cut
    assert chunks[-1].choices[0].finish_reason == "content_filter"
    assert chunks[-1].model_extra["safety"]["reasons"] == [BAD_REASON]
    assert all(BAD not in chunk.model_dump_json() for chunk in chunks)


async def test_stream_cut_before_any_text_carries_the_refusal(start_proxy, fake_upstream):
    fake_upstream.answer = completions_answer(BAD_FIRST)
    base, _ = await start_proxy()
    _, chunks = await stream_chunks(base, "hello")
    assert text_of(chunks) == REFUSAL_TEXT
    assert chunks[-1].choices[0].finish_reason == "content_filter"
    assert all(BAD not in chunk.model_dump_json() for chunk in chunks)
