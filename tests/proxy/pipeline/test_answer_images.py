"""Images in answers (a generated image, whole or as partial renders): the text in them is
read by OCR and checked like the answer's words, whole and streamed in both modes, through
the real proxy and the real ``tesseract``. A picture whose text is blocked never reaches
the client; a clean one arrives intact; one not read is relayed and counted."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp
import pytest

from tests.proxy.protocol.test_responses_dialect import response_body
from tests.proxy.routes.test_bad_input import metric
from tests.support.image import image_url, text_png
from tests.support.pictures import BAD_PICTURE, CLEAN_PICTURE
from tests.support.upstream import Stream, chat_chunk, chat_completion, sse_events

CHAT = {"model": "m", "messages": [{"role": "user", "content": "Draw me a sign."}]}
RESPONSES = {"model": "m", "input": "Draw me a sign.", "tools": [{"type": "image_generation"}]}


def _chat_images(picture: bytes) -> list[dict[str, Any]]:
    """A vendor's generated images beside the message (OpenRouter's shape)."""
    return [{"type": "image_url", "image_url": {"url": image_url(picture)}}]


def chat_answer(picture: bytes) -> dict[str, Any]:
    return chat_completion({"role": "assistant", "content": "Here is your sign.",
                            "images": _chat_images(picture)})


def chat_stream(picture: bytes) -> list[tuple[str | None, Any]]:
    return [(None, chat_chunk({"role": "assistant", "content": "Here is your sign."})),
            (None, chat_chunk({"images": _chat_images(picture)})),
            (None, chat_chunk({}, finish_reason="stop")), (None, "[DONE]")]


def _generated(picture: bytes) -> dict[str, Any]:
    return {"type": "image_generation_call", "id": "ig_1", "status": "completed",
            "result": base64.b64encode(picture).decode()}


def responses_answer(picture: bytes) -> dict[str, Any]:
    return response_body([_generated(picture)])


def responses_stream(picture: bytes, partial: bytes | None = None) -> list[tuple[str, Any]]:
    """A generation's events: created, a partial render (``partial``, else the picture
    itself), the finished item, completed."""
    item = _generated(picture)
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": response_body([], status="in_progress")},
        {"type": "response.output_item.added", "output_index": 0,
         "item": {**item, "status": "in_progress", "result": None}},
        {"type": "response.image_generation_call.partial_image", "item_id": "ig_1",
         "output_index": 0, "partial_image_index": 0,
         "partial_image_b64": base64.b64encode(partial or picture).decode()},
        {"type": "response.output_item.done", "output_index": 0, "item": item},
        {"type": "response.completed", "response": response_body([item])}]
    return [(event["type"], {**event, "sequence_number": number})
            for number, event in enumerate(events)]


WHOLE = {"chat/completions": (CHAT, chat_answer), "responses": (RESPONSES, responses_answer)}
STREAMED = {"chat/completions": (CHAT, chat_stream), "responses": (RESPONSES, responses_stream)}


def payload(picture: bytes) -> str:
    """A stretch of the picture's base64 that any copy of it relayed would contain."""
    return base64.b64encode(picture).decode()[40:120]


async def ask(base: str, path: str, body: dict[str, Any]) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as session, session.post(
            f"{base}/v1/{path}", json=body) as response:
        return response.status, await response.text(), response.headers["x-safety-decision"]


@pytest.mark.parametrize("path", sorted(WHOLE))
async def test_a_generated_image_is_read_before_the_answer_is_relayed(
        start_proxy, fake_upstream, path: str) -> None:
    request, answer = WHOLE[path]
    base, _ = await start_proxy()
    fake_upstream.answer = lambda body: answer(BAD_PICTURE)
    status, text, decision = await ask(base, path, request)
    assert (status, decision) == (200, "block")
    assert payload(BAD_PICTURE) not in text and "content_filter" in text
    fake_upstream.answer = lambda body: answer(CLEAN_PICTURE)
    status, text, decision = await ask(base, path, request)
    assert (status, decision) == (200, "allow")
    assert base64.b64encode(CLEAN_PICTURE).decode() in text  # relayed whole, unchanged
    assert await metric(base, 'safety_proxy_ocr_reads_total{outcome="text"}') == 2


@pytest.mark.parametrize("mode", ["buffered", "low_latency"])
@pytest.mark.parametrize("path", sorted(STREAMED))
async def test_a_streamed_image_reaches_the_client_only_once_its_text_passed(
        start_proxy, fake_upstream, path: str, mode: str) -> None:
    """In low-latency mode too: the event carrying the picture waits for its check."""
    request, events = STREAMED[path]
    base, _ = await start_proxy(streaming={"mode": mode})
    fake_upstream.answer = lambda body: Stream(sse_events(events(BAD_PICTURE)))
    status, text, _ = await ask(base, path, {**request, "stream": True})
    assert status == 200 and "content_filter" in text
    assert payload(BAD_PICTURE) not in text
    fake_upstream.answer = lambda body: Stream(sse_events(events(CLEAN_PICTURE)))
    status, text, _ = await ask(base, path, {**request, "stream": True})
    assert status == 200 and "content_filter" not in text
    assert base64.b64encode(CLEAN_PICTURE).decode() in text


async def test_a_partial_render_is_read_too(start_proxy, fake_upstream) -> None:
    """The final picture is clean, the partial render before it is not: cut at the
    partial, which never reaches the client."""
    base, _ = await start_proxy(streaming={"mode": "low_latency"})
    fake_upstream.answer = lambda body: Stream(sse_events(
        responses_stream(CLEAN_PICTURE, partial=BAD_PICTURE)))
    status, text, _ = await ask(base, "responses", {**RESPONSES, "stream": True})
    assert status == 200 and "content_filter" in text
    assert payload(BAD_PICTURE) not in text and payload(CLEAN_PICTURE) not in text


async def test_an_image_not_read_is_relayed_and_counted(start_proxy, fake_upstream) -> None:
    """OCR switched off: the picture passes (its text unread), counted as unscanned output
    and as skipped by OCR (the SafetyProxyImagesUnread alert's series)."""
    base, _ = await start_proxy(server={"ocr": {"command": ""}})
    fake_upstream.answer = lambda body: chat_answer(BAD_PICTURE)
    status, text, decision = await ask(base, "chat/completions", CHAT)
    assert (status, decision) == (200, "allow")
    assert payload(BAD_PICTURE) in text
    assert await metric(base, 'safety_proxy_unscanned_parts_total{direction="output"}') == 1
    assert await metric(base, 'safety_proxy_ocr_reads_total{outcome="skipped"}') == 1


async def test_answers_are_not_read_when_no_check_reads_them(start_proxy,
                                                             fake_upstream) -> None:
    base, _ = await start_proxy(policy={"output": {}}, checks=[{
        "name": "script", "type": "scripted", "directions": ["input"], "options": {
            "labels": ["bad", "meh"], "triggers": {"BADWORD": {"bad": 1.0}}}}])
    fake_upstream.answer = lambda body: chat_answer(BAD_PICTURE)
    status, text, decision = await ask(base, "chat/completions", CHAT)
    assert status == 200 and payload(BAD_PICTURE) in text
    assert await metric(base, 'safety_proxy_ocr_reads_total{outcome="text"}') == 0


async def test_images_among_texts_are_replaced_by_their_text_in_place() -> None:
    """Each inline image (base64 or data: URL) becomes the text read in it, at its place
    and with its output index; one holding no text is dropped; one past max_images stays
    unread (dropped, counted); words and short base64-like words are left alone."""
    from proxy.config.schema import OcrConfig, ServerConfig
    from proxy.pipeline.attachments import read_inline_images
    from tests.support.image import blank_png
    texts = [(0, "Here it is."), (1, base64.b64encode(text_png("Sunny beach")).decode()),
             (0, image_url(blank_png())), (2, "iVBORw0KGgo"),
             (0, image_url(text_png("Second sign")))]
    read, unread = await read_inline_images(texts, ServerConfig())
    assert (read, unread) == ([(0, "Here it is."), (1, "Sunny beach"), (2, "iVBORw0KGgo"),
                               (0, "Second sign")], 0)
    read, unread = await read_inline_images(texts, ServerConfig(ocr=OcrConfig(max_images=2)))
    assert (read, unread) == ([(0, "Here it is."), (1, "Sunny beach"), (2, "iVBORw0KGgo")], 1)


async def test_an_image_in_an_anthropic_answer_is_read(start_proxy, fake_upstream) -> None:
    """A compatible server answering with an image block: the same reading as any other
    answer text that is a whole inline image."""
    def message(picture: bytes) -> dict[str, Any]:
        return {"id": "msg_1", "type": "message", "role": "assistant", "model": "m",
                "content": [{"type": "text", "text": "Here is your sign."},
                            {"type": "image", "source": {
                                "type": "base64", "media_type": "image/png",
                                "data": base64.b64encode(picture).decode()}}],
                "stop_reason": "end_turn", "stop_sequence": None,
                "usage": {"input_tokens": 1, "output_tokens": 1}}

    base, _ = await start_proxy()
    request = {"model": "m", "max_tokens": 64,
               "messages": [{"role": "user", "content": "Draw me a sign."}]}
    fake_upstream.answer = lambda body: message(BAD_PICTURE)
    status, text, decision = await ask(base, "messages", request)
    assert (status, decision) == (200, "block") and payload(BAD_PICTURE) not in text
    fake_upstream.answer = lambda body: message(CLEAN_PICTURE)
    status, text, decision = await ask(base, "messages", request)
    assert (status, decision) == (200, "allow") and payload(CLEAN_PICTURE) in text


async def test_in_low_latency_the_first_event_does_not_wait_for_those_read_with_it(
        start_proxy, fake_upstream) -> None:
    """One upstream read brings the answer's first words and a picture: the words leave
    at once, the picture only once its text was read and passed."""
    base, _ = await start_proxy(streaming={"mode": "low_latency"})
    first, *rest = sse_events(chat_stream(CLEAN_PICTURE))
    fake_upstream.answer = lambda body: Stream([first + rest[0], *rest[1:]])
    async with aiohttp.ClientSession() as session, session.post(
            f"{base}/v1/chat/completions", json={**CHAT, "stream": True}) as response:
        received = [chunk async for chunk in response.content.iter_any()]
    assert b"Here is your sign." in received[0]
    assert payload(CLEAN_PICTURE).encode() not in received[0], "the words waited for OCR"
    assert payload(CLEAN_PICTURE).encode() in b"".join(received)
