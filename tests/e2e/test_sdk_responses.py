"""End to end, Responses: the official openai SDK -> the proxy -> a fake upstream that speaks
the real wire format, for each outcome (allow, flag, input block, output block), whole and
streamed (``responses.create(stream=True)`` and the ``responses.stream()`` helper, whose
state machine checks the order of the events)."""

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
    RESPONSE_ID,
    STREAMED,
    assert_content_filter,
    openai_client,
    responses_answer,
)

client = openai_client


def ask(prompt: str) -> dict[str, Any]:
    return {"model": "gpt-4.1", "input": prompt}


async def respond(base: str, prompt: str) -> tuple[Any, Any, str]:
    """A whole response: (headers, the parsed response, the raw body)."""
    async with client(base) as sdk:
        raw = await sdk.responses.with_raw_response.create(**ask(prompt))
        return raw.headers, raw.parse(), raw.text


async def created_stream(base: str, prompt: str) -> tuple[Any, list[Any]]:
    """``responses.create(stream=True)``: (headers, every event the SDK yielded)."""
    async with client(base) as sdk, sdk.responses.with_streaming_response.create(
            **ask(prompt), stream=True) as response:
        return response.headers, [event async for event in await response.parse()]


async def helper_stream(base: str, prompt: str) -> list[Any]:
    """The ``responses.stream()`` helper: every event it yielded."""
    async with client(base) as sdk, sdk.responses.stream(**ask(prompt)) as stream:
        return [event async for event in stream]


def text_of(events: list[Any]) -> str:
    return "".join(e.delta for e in events if e.type == "response.output_text.delta")


def assert_filtered(response: Any) -> None:
    """The API's "stopped by the content filter" shape."""
    assert response.status == "incomplete"
    assert response.incomplete_details.reason == "content_filter"


@STREAMED
@pytest.mark.parametrize(("prompt", "decision"), [("hello", "allow"), (f"hello {MEH}", "flag")])
async def test_clean_answer_passes_unchanged(start_proxy, fake_upstream, stream, prompt,
                                             decision):
    fake_upstream.answer = responses_answer(CLEAN)
    base, _ = await start_proxy()
    if stream:
        headers, events = await created_stream(base, prompt)
        assert text_of(events) == CLEAN_TEXT
        assert events[-1].type == "response.completed"
        assert events[-1].response.output_text == CLEAN_TEXT
        async with client(base) as sdk, sdk.responses.stream(**ask(prompt)) as helper:
            final = await helper.get_final_response()
        assert (final.id, final.status, final.output_text) == (
            RESPONSE_ID, "completed", CLEAN_TEXT)
    else:
        headers, response, _ = await respond(base, prompt)
        assert (response.id, response.status, response.output_text) == (
            RESPONSE_ID, "completed", CLEAN_TEXT)
        assert response.usage.total_tokens == 123
    assert headers["x-safety-decision"] == decision
    assert fake_upstream.requests[0]["input"] == prompt


@STREAMED
async def test_input_block_is_a_content_filter_error(start_proxy, fake_upstream, stream):
    fake_upstream.answer = responses_answer(CLEAN)
    base, _ = await start_proxy()
    async with client(base) as sdk:
        with pytest.raises(openai.BadRequestError) as caught:
            await sdk.responses.create(**ask(f"you {BAD}"), stream=stream)
    error = caught.value
    assert_content_filter(error, "input")
    assert fake_upstream.requests == []


@STREAMED
async def test_input_block_in_refusal_style(start_proxy, fake_upstream, stream):
    fake_upstream.answer = responses_answer(CLEAN)
    base, _ = await start_proxy(policy=REFUSAL_STYLE)
    if stream:
        events = await helper_stream(base, f"you {BAD}")
        assert text_of(events) == REFUSAL_TEXT
        assert events[0].type == "response.created"
        assert events[-1].type == "response.incomplete"
        response = events[-1].response
    else:
        headers, response, _ = await respond(base, f"you {BAD}")
        assert headers["x-safety-decision"] == "block"
    assert_filtered(response)
    assert response.output_text == REFUSAL_TEXT
    assert response.model_extra["safety"]["reasons"] == [BAD_REASON]
    assert fake_upstream.requests == []


async def test_output_block_replaces_the_answer(start_proxy, fake_upstream):
    fake_upstream.answer = responses_answer(BAD_LATE)
    base, _ = await start_proxy()
    headers, response, raw = await respond(base, "hello")
    assert_filtered(response)
    assert response.id == RESPONSE_ID
    assert response.output_text == REFUSAL_TEXT
    assert response.model_extra["safety"]["direction"] == "output"
    assert headers["x-safety-decision"] == "block"
    assert BAD not in raw


async def test_stream_cut_after_clean_text(start_proxy, fake_upstream):
    fake_upstream.answer = responses_answer(BAD_LATE)
    base, _ = await start_proxy()
    events = await helper_stream(base, "hello")
    text = text_of(events)
    assert len(text) >= 40 and CLEAN_TEXT.startswith(text)  # clean text, then the cut
    assert events[-1].type == "response.incomplete"
    assert_filtered(events[-1].response)
    assert events[-1].response.model_extra["safety"]["reasons"] == [BAD_REASON]
    assert all(BAD not in event.model_dump_json() for event in events)


async def test_stream_cut_before_any_text_carries_the_refusal(start_proxy, fake_upstream):
    fake_upstream.answer = responses_answer(BAD_FIRST)
    base, _ = await start_proxy()
    events = await helper_stream(base, "hello")
    assert events[0].type == "response.created"
    assert text_of(events) == REFUSAL_TEXT
    assert events[-1].type == "response.incomplete"
    assert_filtered(events[-1].response)
    assert events[-1].response.output_text == REFUSAL_TEXT
    assert all(BAD not in event.model_dump_json() for event in events)


async def test_stream_cut_as_created_events(start_proxy, fake_upstream):
    """``responses.create(stream=True)``: the same cut, as raw typed events, numbered on."""
    fake_upstream.answer = responses_answer(BAD_LATE)
    base, _ = await start_proxy()
    _, events = await created_stream(base, "hello")
    numbers = [event.sequence_number for event in events]
    assert numbers == sorted(set(numbers))
    assert events[-1].type == "response.incomplete"
    assert_filtered(events[-1].response)
