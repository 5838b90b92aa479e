"""A blocked Responses answer is deleted upstream (the response, and the items it added to a
conversation), so that no later request can continue from it; nothing else is deleted."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from tests.bypass.rows import BAD
from tests.proxy.protocol.test_responses_dialect import message, response_body, text_part
from tests.proxy.routes.test_bad_input import metric
from tests.support.upstream import Stream, chat_completion, sse_events

REQUEST = {"model": "m", "input": "hello"}
BLOCKED = response_body([{"type": "reasoning", "id": "rs_1", "summary": []},
                         message(text_part(f"Here it is: {BAD}"), item_id="msg_9")])


def deleted(result: str) -> str:
    return f'safety_proxy_blocked_answers_deleted_total{{result="{result}"}}'


async def post(base: str, body: dict[str, Any], path: str = "responses") -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.post(
            f"{base}/v1/{path}", json=body) as response:
        return response.status, await response.text()


async def test_a_blocked_answer_is_deleted_before_the_client_gets_it(start_proxy,
                                                                     fake_upstream):
    fake_upstream.answer = lambda body: BLOCKED
    base, _ = await start_proxy()
    status, text = await post(base, REQUEST)
    assert status == 200 and BAD not in text and "content_filter" in text
    assert fake_upstream.others == [("DELETE", "responses/resp_abc")]
    assert await metric(base, deleted("deleted")) == 1


async def test_a_conversations_items_from_the_blocked_answer_are_deleted_too(start_proxy,
                                                                            fake_upstream):
    fake_upstream.answer = lambda body: BLOCKED
    base, _ = await start_proxy()
    for conversation in ("conv_7", {"id": "conv_7"}):
        fake_upstream.others.clear()
        await post(base, {**REQUEST, "conversation": conversation})
        assert fake_upstream.others == [("DELETE", "responses/resp_abc"),
                                        ("DELETE", "conversations/conv_7/items/rs_1"),
                                        ("DELETE", "conversations/conv_7/items/msg_9")]


@pytest.mark.parametrize("case", ["allowed", "store false", "chat completions"])
async def test_nothing_else_is_deleted(start_proxy, fake_upstream, case):
    fake_upstream.answer = {
        "allowed": lambda body: response_body([message(text_part("It is sunny."))]),
        "store false": lambda body: BLOCKED,
        "chat completions": lambda body: chat_completion({"role": "assistant",
                                                          "content": BAD}),
    }[case]
    base, _ = await start_proxy()
    body, path = {"allowed": (REQUEST, "responses"),
                  "store false": ({**REQUEST, "store": False}, "responses"),
                  "chat completions": ({"model": "m", "messages": [
                      {"role": "user", "content": "hi"}]}, "chat/completions")}[case]
    status, _ = await post(base, body, path)
    assert status == 200
    assert fake_upstream.others == []
    assert await metric(base, deleted("deleted")) == 0


def stream_events(text: str) -> list[tuple[str, dict[str, Any]]]:
    created = response_body([], "in_progress", id="resp_live")
    item = {**message(item_id="msg_live"), "status": "in_progress"}
    where = {"item_id": "msg_live", "output_index": 0, "content_index": 0}
    events = [{"type": "response.created", "response": created},
              {"type": "response.output_item.added", "output_index": 0, "item": item},
              {"type": "response.content_part.added", **where, "part": text_part("")},
              {"type": "response.output_text.delta", **where, "delta": text, "logprobs": []},
              {"type": "response.output_text.done", **where, "text": text, "logprobs": []},
              {"type": "response.completed", "response": {
                  **created, "status": "completed",
                  "output": [{**item, "status": "completed", "content": [text_part(text)]}]}}]
    return [(event["type"], {**event, "sequence_number": n}) for n, event in enumerate(events)]


@pytest.mark.parametrize("mode", ["buffered", "low_latency"])
async def test_a_cut_stream_is_deleted_after_the_cut(start_proxy, fake_upstream, mode):
    fake_upstream.answer = lambda body: Stream(sse_events(stream_events(f"so: {BAD}")))
    base, _ = await start_proxy(streaming={"mode": mode})
    status, text = await post(base, {**REQUEST, "stream": True, "conversation": "conv_1"})
    assert status == 200 and "response.incomplete" in text
    if mode == "buffered":  # low_latency relays text before its window is checked
        assert BAD not in text
    # the client has its whole stream first: the deletions follow it
    wanted = [("DELETE", "responses/resp_live"), ("DELETE", "conversations/conv_1/items/msg_live")]
    for _ in range(200):
        if fake_upstream.others == wanted:
            break
        await asyncio.sleep(0.01)
    assert fake_upstream.others == wanted
    fake_upstream.others.clear()
    fake_upstream.answer = lambda body: Stream(sse_events(stream_events("all fine")))
    await post(base, {**REQUEST, "stream": True})
    await post(base, REQUEST)  # the stream's handler has returned before this one answers
    assert fake_upstream.others == []


@pytest.mark.parametrize(("status", "result"), [(404, "not_found"), (500, "failed")])
async def test_a_failed_deletion_is_counted_and_the_answer_stays_blocked(
        start_proxy, fake_upstream, status, result):
    fake_upstream.answer = lambda body: BLOCKED
    fake_upstream.other_status = status
    base, _ = await start_proxy()
    got, text = await post(base, REQUEST)
    assert got == 200 and BAD not in text and "content_filter" in text
    assert await metric(base, deleted(result)) == 1
    assert await metric(base, deleted("deleted")) == 0


@pytest.mark.parametrize("bad_id", ["../files/file_1", "resp_1\n", "resp 1", "resp_1?x=1"])
async def test_an_id_that_is_no_plain_segment_is_never_sent(start_proxy, fake_upstream,
                                                            bad_id):
    fake_upstream.answer = lambda body: {**BLOCKED, "id": bad_id}
    base, _ = await start_proxy()
    await post(base, REQUEST)
    assert fake_upstream.others == []
    assert await metric(base, deleted("invalid_id")) == 1
