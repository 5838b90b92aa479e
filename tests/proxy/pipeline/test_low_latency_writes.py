"""Streaming's writes when the upstream's answer arrives whole in one read: in low-latency
mode the events after the first never wait on the whole answer's check (written before it
when it waits), and go with the answer's end, in one write, when it finishes in its first
step; in either mode the answer's end and the response's (the chunked encoding's last
chunk) leave in the same write. (The first event leaving at once:
tests/proxy/pipeline/test_answer_images.py.)"""

from __future__ import annotations

import time

import aiohttp
import pytest
from aiohttp import http_writer

from proxy.server import ProxyConnection
from tests.conftest import proxy_config
from tests.evasion.test_evasion import FAST
from tests.support.upstream import Stream, sse_chunks

PIECES = ["Hello ", "there, ", "friend."]
CHAT = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}


OUTPUT_ONLY = {**proxy_config("http://unused")["policy"], "input": {}}


def output_check(delay_s: float = 0.0) -> dict:
    options = {"labels": ["bad", "meh"], **({"delay_s": delay_s} if delay_s else {})}
    return {"name": "script", "type": "scripted", "directions": ["output"], "options": options}


async def received(base: str) -> list[tuple[float, bytes]]:
    """Each piece of the body as the client read it, with the time it was read."""
    async with aiohttp.ClientSession() as session, session.post(
            f"{base}/v1/chat/completions", json=CHAT) as response:
        assert response.status == 200
        return [(time.perf_counter(), chunk) async for chunk in response.content.iter_any()]


def arrival(pieces: list[tuple[float, bytes]], needle: bytes) -> float:
    return next(at for at, chunk in pieces if needle in chunk)


async def test_text_read_with_the_end_is_written_before_a_check_that_waits(
        start_proxy, fake_upstream) -> None:
    base, _ = await start_proxy(checks=[output_check(delay_s=0.3)], policy=OUTPUT_ONLY,
                                streaming={"mode": "low_latency"})
    fake_upstream.answer = lambda body: Stream([b"".join(sse_chunks(PIECES))])
    pieces = await received(base)
    assert arrival(pieces, b"[DONE]") - arrival(pieces, b"friend.") >= 0.2, \
        "the answer's last words waited for its check"


async def test_text_read_with_the_end_goes_with_it_after_a_check_that_does_not_wait(
        start_proxy, fake_upstream) -> None:
    base, _ = await start_proxy(checks=[output_check()], policy=OUTPUT_ONLY,
                                streaming={"mode": "low_latency"})
    fake_upstream.answer = lambda body: Stream([b"".join(sse_chunks(PIECES))])
    pieces = await received(base)
    last = next(chunk for _, chunk in pieces if b"[DONE]" in chunk)
    assert b"there, " in last and b"friend." in last and b'"finish_reason":"stop"' in last
    assert b"".join(chunk for _, chunk in pieces).count(b"friend.") == 1


@pytest.mark.parametrize("mode", ["buffered", "low_latency"])
async def test_a_stream_read_whole_leaves_in_one_write_its_end_included(
        start_proxy, fake_upstream, monkeypatch, mode: str) -> None:
    base, _ = await start_proxy(checks=[output_check()], policy=OUTPUT_ONLY,
                                streaming={"mode": mode})
    fake_upstream.answer = lambda body: Stream([b"".join(sse_chunks(PIECES))])
    writes: list[bytes] = []  # what the proxy wrote to its clients, write by write

    def spied(write):  # aiohttp's own writer, observed: every write still happens
        def observed(self, data):
            if isinstance(self._protocol, ProxyConnection):
                writes.append(b"".join(data) if isinstance(data, (list, tuple)) else bytes(data))
            return write(self, data)
        return observed

    monkeypatch.setattr(http_writer.StreamWriter, "_write", spied(http_writer.StreamWriter._write))
    monkeypatch.setattr(http_writer.StreamWriter, "_writelines",
                        spied(http_writer.StreamWriter._writelines))
    pieces = await received(base)
    assert b"friend." in b"".join(chunk for _, chunk in pieces)
    assert len(writes) == 1, writes  # the status line and headers, every event, the end
    assert writes[0].startswith(b"HTTP/1.1 200") and writes[0].endswith(b"\r\n0\r\n\r\n")


@pytest.mark.parametrize("mode", ["buffered", "low_latency"])
async def test_a_stream_read_whole_with_a_blocked_text_is_cut_and_still_ends(
        start_proxy, fake_upstream, mode: str) -> None:
    """The one-write end is taken only once the whole answer passed: an answer with a
    blocked text in its middle is cut, and the client reads a complete response (its
    chunked end included). Buffered mode never relays the text; low-latency mode may have
    relayed it before the cut (its documented bound: under two windows), so only the cut
    is asserted there."""
    base, _ = await start_proxy(checks=FAST["checks"], policy=FAST["policy"],
                                streaming={**FAST["streaming"], "mode": mode})
    fake_upstream.answer = lambda body: Stream([b"".join(sse_chunks(
        ["Sure. ", "you are a stupid fucking idiot", " Anything else?"]))])
    body = b"".join(chunk for _, chunk in await received(base))  # raises if cut short
    assert b"content_filter" in body and body.endswith(b"data: [DONE]\n\n")
    assert body.count(b"[DONE]") == 1
    if mode == "buffered":
        assert b"fucking" not in body
