"""End to end, Anthropic Messages: the official anthropic SDK -> the proxy -> a fake upstream
that speaks the real wire format, for each outcome (allow, flag, input block, output
block), whole and streamed (``messages.create(stream=True)`` and the ``messages.stream()``
helper, which accumulates the final message)."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest
from anthropic import AsyncAnthropic

from tests.e2e.support import (
    ANTHROPIC_MESSAGE_ID,
    BAD,
    BAD_FIRST,
    BAD_LATE,
    BAD_REASON,
    CLEAN,
    CLEAN_TEXT,
    MEH,
    REFUSAL_STYLE,
    REFUSAL_TEXT,
    REJECTED,
    messages_answer,
)

STREAMED = pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])


def client(base: str) -> AsyncAnthropic:
    return AsyncAnthropic(base_url=base, api_key="sk-ant-test", max_retries=0, timeout=10)


def ask(prompt: str) -> dict[str, Any]:
    return {"model": "claude-sonnet-4-6", "max_tokens": 256,
            "messages": [{"role": "user", "content": prompt}]}


async def send(base: str, prompt: str) -> tuple[Any, Any, str]:
    """A whole message: (headers, the parsed message, the raw body)."""
    async with client(base) as sdk:
        raw = await sdk.messages.with_raw_response.create(**ask(prompt))
        return raw.headers, await raw.parse(), await raw.text()


async def created_stream(base: str, prompt: str) -> tuple[Any, list[Any]]:
    """``messages.create(stream=True)``: (headers, every event the SDK yielded)."""
    async with client(base) as sdk, sdk.messages.with_streaming_response.create(
            **ask(prompt), stream=True) as response:
        return response.headers, [event async for event in await response.parse()]


async def helper_stream(base: str, prompt: str) -> tuple[Any, list[Any], Any]:
    """The ``messages.stream()`` helper: (headers, its events, the final message)."""
    async with client(base) as sdk, sdk.messages.stream(**ask(prompt)) as stream:
        events = [event async for event in stream]
        return stream.response.headers, events, await stream.get_final_message()


def text_of(events: list[Any]) -> str:
    return "".join(e.delta.text for e in events
                   if e.type == "content_block_delta" and e.delta.type == "text_delta")


def message_text(message: Any) -> str:
    return "".join(block.text for block in message.content if block.type == "text")


@STREAMED
@pytest.mark.parametrize(("prompt", "decision"), [("hello", "allow"), (f"hello {MEH}", "flag")])
async def test_clean_answer_passes_unchanged(start_proxy, fake_upstream, stream, prompt,
                                             decision):
    fake_upstream.answer = messages_answer(CLEAN)
    base, _ = await start_proxy()
    if stream:
        headers, events = await created_stream(base, prompt)
        assert text_of(events) == CLEAN_TEXT
        assert [e.type for e in events][-2:] == ["message_delta", "message_stop"]
        _, _, message = await helper_stream(base, prompt)
    else:
        headers, message, _ = await send(base, prompt)
        assert message.usage.input_tokens == 25
    assert (message.id, message.stop_reason) == (ANTHROPIC_MESSAGE_ID, "end_turn")
    assert message_text(message) == CLEAN_TEXT
    assert headers["x-safety-decision"] == decision
    assert fake_upstream.requests[0]["messages"] == [{"role": "user", "content": prompt}]


@STREAMED
async def test_input_block_is_an_invalid_request_error(start_proxy, fake_upstream, stream):
    fake_upstream.answer = messages_answer(CLEAN)
    base, _ = await start_proxy()
    async with client(base) as sdk:
        with pytest.raises(anthropic.BadRequestError) as caught:
            await sdk.messages.create(**ask(f"you {BAD}"), stream=stream)
    error = caught.value
    assert error.status_code == 400
    assert error.type == "invalid_request_error"
    assert error.api_message is not None and REJECTED in error.api_message
    assert "script.bad" in error.api_message and BAD not in error.api_message
    assert isinstance(error.body, dict)
    assert error.body["type"] == "error"
    assert error.body["error"]["safety"]["reasons"] == [BAD_REASON]
    assert error.response.headers["x-safety-decision"] == "block"
    assert fake_upstream.requests == []


@STREAMED
async def test_input_block_in_refusal_style(start_proxy, fake_upstream, stream):
    fake_upstream.answer = messages_answer(CLEAN)
    base, _ = await start_proxy(policy=REFUSAL_STYLE)
    if stream:
        headers, events, message = await helper_stream(base, f"you {BAD}")
        assert text_of(events) == REFUSAL_TEXT
    else:
        headers, message, _ = await send(base, f"you {BAD}")
        assert message.model_extra["safety"]["reasons"] == [BAD_REASON]
    assert message.stop_reason == "refusal"
    assert message_text(message) == REFUSAL_TEXT
    assert headers["x-safety-decision"] == "block"
    assert fake_upstream.requests == []


async def test_output_block_replaces_the_answer(start_proxy, fake_upstream):
    fake_upstream.answer = messages_answer(BAD_LATE)
    base, _ = await start_proxy()
    headers, message, raw = await send(base, "hello")
    assert message.id == ANTHROPIC_MESSAGE_ID
    assert message.stop_reason == "refusal"
    assert message_text(message) == REFUSAL_TEXT
    assert message.model_extra["safety"]["direction"] == "output"
    assert message.usage.output_tokens == 15  # tokens spent upstream are kept
    assert headers["x-safety-decision"] == "block"
    assert BAD not in raw


async def test_stream_cut_after_clean_text(start_proxy, fake_upstream):
    fake_upstream.answer = messages_answer(BAD_LATE)
    base, _ = await start_proxy()
    _, events, message = await helper_stream(base, "hello")
    text = text_of(events)
    assert len(text) >= 40 and CLEAN_TEXT.startswith(text)  # clean text, then the cut
    assert message.stop_reason == "refusal"
    assert message_text(message) == text  # the text the client saw, nothing more
    assert [e.type for e in events][-3:] == ["content_block_stop", "message_delta",
                                             "message_stop"]
    assert all(BAD not in event.model_dump_json() for event in events)


async def test_stream_cut_before_any_text_carries_the_refusal(start_proxy, fake_upstream):
    fake_upstream.answer = messages_answer(BAD_FIRST)
    base, _ = await start_proxy()
    _, events, message = await helper_stream(base, "hello")
    assert events[0].type == "message_start"
    assert text_of(events) == REFUSAL_TEXT
    assert message.stop_reason == "refusal"
    assert message_text(message) == REFUSAL_TEXT
    assert all(BAD not in event.model_dump_json() for event in events)


async def test_stream_cut_as_created_events(start_proxy, fake_upstream):
    """``messages.create(stream=True)``: the cut's message_delta carries ``safety``."""
    fake_upstream.answer = messages_answer(BAD_LATE)
    base, _ = await start_proxy()
    _, events = await created_stream(base, "hello")
    delta = next(e for e in events if e.type == "message_delta")
    assert delta.delta.stop_reason == "refusal"
    assert delta.model_extra["safety"]["reasons"] == [BAD_REASON]
    assert events[-1].type == "message_stop"
