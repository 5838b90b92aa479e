"""The evasion suite: a text the `fast` preset's checks block, in each disguise, through
each API, as a request (the upstream never receives it) and as an answer (the client never
receives it), streamed and not. Each must be blocked as the plain text is.

The disguises are undone before any check scores (canonical views), so the suite runs on
the cheap word-level preset; test_default_checks.py tries the embedded defaults' encoder
checks on a sample of the same disguises."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from tests.bypass.rows import chat_delta_events, message_events
from tests.evasion.disguises import DISGUISES
from tests.support.upstream import Stream, completion, sse_events

FAST = yaml.safe_load((Path(__file__).parents[2] / "proxy/config/fast.yaml").read_text())


def request(dialect: str, text: str) -> tuple[str, dict[str, Any]]:
    return {
        "chat": ("chat/completions", {"model": "m", "messages": [
            {"role": "user", "content": text}]}),
        "responses": ("responses", {"model": "m", "input": text}),
        "completions": ("completions", {"model": "m", "prompt": text}),
        "messages": ("messages", {"model": "c", "max_tokens": 64, "messages": [
            {"role": "user", "content": text}]}),
    }[dialect]


def answer(dialect: str, text: str, stream: bool) -> Any:
    if dialect == "chat":
        return Stream(sse_events(chat_delta_events(content=text))) if stream else \
            completion(text)
    events = message_events({"type": "text", "text": ""}, {"type": "text_delta", "text": text})
    return Stream(sse_events(events)) if stream else {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "c",
        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
        "stop_sequence": None, "usage": {"input_tokens": 1, "output_tokens": 1}}


@pytest.fixture
async def default_proxy(start_proxy):
    base, _ = await start_proxy(checks=FAST["checks"], policy=FAST["policy"],
                                streaming=FAST["streaming"])
    return base


@pytest.mark.parametrize("disguise", sorted(DISGUISES))
@pytest.mark.parametrize("dialect", ["chat", "responses", "completions", "messages"])
@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
async def test_a_disguised_request_is_blocked(default_proxy, fake_upstream, disguise, dialect,
                                              stream):
    path, body = request(dialect, DISGUISES[disguise])
    async with aiohttp.ClientSession() as session, session.post(
            f"{default_proxy}/v1/{path}", json={**body, "stream": stream}) as response:
        assert response.status == 400, await response.text()
    assert fake_upstream.requests == []


@pytest.mark.parametrize("disguise", sorted(DISGUISES))
@pytest.mark.parametrize("dialect", ["chat", "messages"])
@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
async def test_a_disguised_answer_never_reaches_the_client(default_proxy, fake_upstream,
                                                           disguise, dialect, stream):
    text = DISGUISES[disguise]
    fake_upstream.answer = lambda body: answer(dialect, text, stream)
    path, body = request(dialect, "hello")
    async with aiohttp.ClientSession() as session, session.post(
            f"{default_proxy}/v1/{path}", json={**body, "stream": stream}) as response:
        raw = await response.text()
    assert text not in raw and "fucking" not in raw
    assert "content_filter" in raw or '"refusal"' in raw
