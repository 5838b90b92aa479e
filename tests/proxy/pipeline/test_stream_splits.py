"""A real upstream stream split at every byte offset still reaches the client whole.

The fake upstream writes the stream in two TCP writes (with a pause, so they arrive apart)
at each offset: mid-line, mid-CRLF, inside a multi-byte UTF-8 character, inside [DONE].
"""

from __future__ import annotations

import aiohttp
import orjson
import pytest

from tests.support.upstream import Stream, chat_chunk

pytestmark = pytest.mark.slow  # every byte offset of a stream

PIECES = ["h\u00e9llo ", "w\u00f6rld ", "\u2713 ", "done"]


def crlf_stream() -> bytes:
    def event(delta: dict, finish: str | None = None) -> bytes:
        return b"data: " + orjson.dumps(chat_chunk(delta, finish)) + b"\r\n\r\n"
    events = [event({"role": "assistant", "content": ""})]
    events += [event({"content": piece}) for piece in PIECES]
    return b"".join([*events, event({}, "stop"), b"data: [DONE]\r\n\r\n"])


async def test_every_split_offset_relays_the_same_answer(start_proxy, fake_upstream):
    raw = crlf_stream()
    offset = {"value": 1}
    fake_upstream.answer = lambda body: Stream(
        [raw[:offset["value"]], raw[offset["value"]:]], delay_s=0.002)
    base, _ = await start_proxy(streaming={"mode": "buffered", "window_chars": 8})
    request = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    async with aiohttp.ClientSession() as session:
        for split in range(1, len(raw)):
            offset["value"] = split
            async with session.post(f"{base}/v1/chat/completions", json=request) as response:
                body = (await response.read()).decode("utf-8")
            data = [line[6:] for line in body.split("\n") if line.startswith("data: ")]
            assert data[-1] == "[DONE]", split
            chunks = [orjson.loads(d) for d in data[:-1]]
            text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
            assert text == "".join(PIECES), split
            assert chunks[-1]["choices"][0]["finish_reason"] == "stop", split
