"""The evasion suite: a text the `fast` preset's checks block, in each disguise, through
each API, as a request (the upstream never receives it) and as an answer (the client never
receives it), streamed and not. Each must be blocked as the plain text is.

The disguises are undone before any check scores (canonical views), so the suite runs on
the cheap word-level preset; test_default_checks.py tries the embedded defaults' encoder
checks on a sample of the same disguises."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from proxy.pipeline import views
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


# The plain text cut into fragments, each innocent alone: the model reads them as one text.
def _pieces(how: str) -> list[str]:
    plain = DISGUISES["plain"]
    return {"letters": list(plain),  # spaces as fragments of their own too
            "word cut in two": ["you are a stupid fu", "cking idiot"],
            "cut inside a long text": [f"{HARMLESS_LONG} you are a stupid fu",
                                       f"cking idiot. {HARMLESS_LONG}"]}[how]


HARMLESS_LONG = DISGUISES["padded 153 before"].split(" you are")[0]


def fragmented(dialect: str, pieces: list[str], as_parts: bool) -> tuple[str, dict[str, Any]]:
    """The pieces as one message's content parts, or as one message each."""
    if dialect == "responses":
        part_type, key, body = "input_text", "input", {"model": "m"}
    elif dialect == "messages":
        part_type, key, body = "text", "messages", {"model": "c", "max_tokens": 64}
    else:
        part_type, key, body = "text", "messages", {"model": "m"}
    path = {"chat": "chat/completions", "responses": "responses", "messages": "messages"}
    parts = [{"type": part_type, "text": piece} for piece in pieces]
    turns = [{"role": "user", "content": parts}] if as_parts else [
        {"role": "user" if dialect != "messages" or n % 2 == 0 else "assistant",
         "content": piece} for n, piece in enumerate(pieces)]
    return path[dialect], {**body, key: turns}


# Two long messages are read as two (a word cut across them is no word to the model): only
# one message's content parts are read across a long seam.
CUTS = [(how, as_parts) for how in ("letters", "word cut in two", "cut inside a long text")
        for as_parts in (True, False) if as_parts or how != "cut inside a long text"]


@pytest.mark.parametrize(("how", "as_parts"), CUTS,
                         ids=[f"{how}-{'parts' if parts else 'messages'}" for how, parts in CUTS])
@pytest.mark.parametrize("dialect", ["chat", "responses", "messages"])
async def test_a_request_cut_into_fragments_is_blocked(default_proxy, fake_upstream, how,
                                                       dialect, as_parts):
    pieces = _pieces(how)
    if dialect == "messages" and not as_parts and how == "letters":
        pieces = re.findall(r"\S ?", DISGUISES["plain"])  # no blank turns: "u ", not "u", " "
    path, body = fragmented(dialect, pieces, as_parts)
    async with aiohttp.ClientSession() as session, session.post(
            f"{default_proxy}/v1/{path}", json=body) as response:
        text = await response.text()
    assert response.status == 400, text
    assert fake_upstream.requests == []


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
async def test_an_answer_cut_across_its_fields_never_reaches_the_client(
        default_proxy, fake_upstream, stream):
    """A choice's reasoning ends where its content begins: read across, as a stream's
    windows read them."""
    message = {"reasoning_content": "you are a stupid fu", "content": "cking idiot"}
    fake_upstream.answer = lambda body: (
        Stream(sse_events(chat_delta_events(**message))) if stream else
        {**completion(None), "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                                          "message": {"role": "assistant", **message}}]})
    path, body = request("chat", "hello")
    async with aiohttp.ClientSession() as session, session.post(
            f"{default_proxy}/v1/{path}", json={**body, "stream": stream}) as response:
        raw = await response.text()
    assert "cking idiot" not in raw
    assert "content_filter" in raw


@pytest.mark.parametrize("disguise", ["leetspeak", "spaced letters", "cyrillic look-alikes"])
async def test_a_disguised_text_sent_again_and_again_stays_blocked(
        default_proxy, fake_upstream, disguise, monkeypatch):
    """A text's views are kept from its second sighting (views.RememberedViews): the third
    and later requests read them from there, and still see through the disguise; as an
    earlier turn of a conversation, and as the new message."""
    monkeypatch.setattr(views, "REMEMBERED", views.RememberedViews())  # this test's sightings
    text = " ".join([DISGUISES[disguise]] * 3)  # long enough (views.LONG_TEXT) to be kept
    assert len(text) >= views.LONG_TEXT
    for turn in range(4):
        history = [{"role": "user", "content": text}, {"role": "assistant", "content": "ok"}]
        messages = [*history * turn, {"role": "user", "content": text if turn % 2 else "hi"}]
        async with aiohttp.ClientSession() as session, session.post(
                f"{default_proxy}/v1/chat/completions",
                json={"model": "m", "messages": messages if turn else history[:1]}) as response:
            assert response.status == 400, (turn, await response.text())
    assert fake_upstream.requests == []
    assert views.REMEMBERED.chars > 0  # the path under test: views were kept and reused
