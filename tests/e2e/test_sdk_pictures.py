"""End to end, pictures: the official openai and anthropic SDKs send images by URL (served
on 127.0.0.1 and allowed as an operator's image store would be) and receive generated
images; the proxy reads the words in them (the real ``tesseract``) whichever way they
come, and the upstream gets the fetched bytes inline."""

from __future__ import annotations

import base64
from typing import Any

import anthropic
import openai
import pytest
from anthropic import AsyncAnthropic

from tests.e2e.support import openai_client
from tests.proxy.protocol.test_responses_dialect import response_body
from tests.support.pictures import BAD_PICTURE, CLEAN_PICTURE, LOOPBACK, serve_pictures
from tests.support.upstream import Stream, sse_events

QUESTION = "What does the sign say?"


@pytest.fixture
async def images(serve_app) -> str:
    return (await serve_pictures(serve_app))[1]


async def test_openai_chat_with_an_image_by_url(start_proxy, fake_upstream, images) -> None:
    base, _ = await start_proxy(server=LOOPBACK)
    async with openai_client(base) as sdk:
        with pytest.raises(openai.BadRequestError) as refused:
            await sdk.chat.completions.create(model="gpt-4o", messages=[{
                "role": "user", "content": [
                    {"type": "text", "text": QUESTION},
                    {"type": "image_url", "image_url": {"url": f"{images}/bad.png"}}]}])
        assert refused.value.code == "content_filter"
        answer = await sdk.chat.completions.create(model="gpt-4o", messages=[{
            "role": "user", "content": [
                {"type": "text", "text": QUESTION},
                {"type": "image_url", "image_url": {"url": f"{images}/clean.png"}}]}])
    assert answer.choices[0].finish_reason == "stop"
    (sent,) = fake_upstream.requests
    assert sent["messages"][0]["content"][1]["image_url"]["url"] == (
        "data:image/png;base64," + base64.b64encode(CLEAN_PICTURE).decode())


async def test_openai_responses_with_an_image_by_url(start_proxy, fake_upstream,
                                                     images) -> None:
    base, _ = await start_proxy(server=LOOPBACK)
    async with openai_client(base) as sdk:
        with pytest.raises(openai.BadRequestError) as refused:
            await sdk.responses.create(model="gpt-4.1", input=[{"role": "user", "content": [
                {"type": "input_text", "text": QUESTION},
                {"type": "input_image", "image_url": f"{images}/bad.png", "detail": "auto"}]}])
    assert refused.value.code == "content_filter"
    assert fake_upstream.requests == []


async def test_anthropic_messages_with_an_image_by_url(start_proxy, fake_upstream,
                                                       images) -> None:
    base, _ = await start_proxy(server=LOOPBACK)
    async with AsyncAnthropic(base_url=base, api_key="sk-ant-test", max_retries=0,
                              timeout=10) as sdk:
        with pytest.raises(anthropic.BadRequestError):
            await sdk.messages.create(model="claude-sonnet-4-6", max_tokens=64, messages=[{
                "role": "user", "content": [
                    {"type": "text", "text": QUESTION},
                    {"type": "image", "source": {"type": "url", "url": f"{images}/bad.png"}}]}])
    assert fake_upstream.requests == []


def generated(picture: bytes) -> dict[str, Any]:
    return {"type": "image_generation_call", "id": "ig_1", "status": "completed",
            "result": base64.b64encode(picture).decode()}


async def test_openai_responses_generating_an_image(start_proxy, fake_upstream) -> None:
    """A generated picture of the words the checks block never reaches the SDK, whole or
    streamed; a clean one arrives as it was."""
    base, _ = await start_proxy(abuse={"enabled": False})  # two blocked answers
    request = {"model": "gpt-4.1", "input": "Draw a sign.",
               "tools": [{"type": "image_generation"}]}
    async with openai_client(base) as sdk:
        fake_upstream.answer = lambda body: response_body([generated(BAD_PICTURE)])
        blocked = await sdk.responses.create(**request)
        assert blocked.status == "incomplete"
        assert [item.type for item in blocked.output] == ["message"]
        events = [{**generated(BAD_PICTURE), "status": "generating", "result": None}]
        fake_upstream.answer = lambda body: Stream(sse_events([
            ("response.created", {"type": "response.created", "sequence_number": 0,
                                  "response": response_body([], status="in_progress")}),
            ("response.output_item.added", {"type": "response.output_item.added",
                                            "sequence_number": 1, "output_index": 0,
                                            "item": events[0]}),
            ("response.output_item.done", {"type": "response.output_item.done",
                                           "sequence_number": 2, "output_index": 0,
                                           "item": generated(BAD_PICTURE)}),
            ("response.completed", {"type": "response.completed", "sequence_number": 3,
                                    "response": response_body([generated(BAD_PICTURE)])})]))
        streamed = [event async for event in await sdk.responses.create(**request,
                                                                         stream=True)]
        assert streamed[-1].type == "response.incomplete"
        assert all(getattr(getattr(event, "item", None), "result", None) is None
                   for event in streamed)
        fake_upstream.answer = lambda body: response_body([generated(CLEAN_PICTURE)])
        clean = await sdk.responses.create(**request)
    assert clean.output[0].result == base64.b64encode(CLEAN_PICTURE).decode()
