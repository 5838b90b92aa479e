"""Log-probabilities through the real proxy: what their ranks spell is checked apart from
the answer's own text (each rank a window of its own), so neither dilutes the other, and
a clean answer's log-probabilities reach the client as they were."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson
import pytest

from tests.support.upstream import Stream, chat_chunk, sse_events

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hello"}], "stream": True,
        "logprobs": True, "top_logprobs": 2}


def chunk(chosen: str, alternative: str) -> dict[str, Any]:
    event = chat_chunk({"content": chosen})
    event["choices"][0]["logprobs"] = {"content": [
        {"token": chosen, "logprob": -0.1, "bytes": list(chosen.encode()), "top_logprobs": [
            {"token": token, "logprob": lp, "bytes": list(token.encode())}
            for token, lp in ((chosen, -0.1), (alternative, -2.3))]}], "refusal": None}
    return event


def stream(*pairs: tuple[str, str]) -> list[bytes]:
    return sse_events([(None, chat_chunk({"role": "assistant", "content": ""})),
                       *((None, chunk(*pair)) for pair in pairs),
                       (None, chat_chunk({}, "stop")), (None, "[DONE]")])


async def relay(base: str) -> str:
    async with aiohttp.ClientSession() as session, session.post(
            f"{base}/v1/chat/completions", json=CHAT) as response:
        assert response.status == 200
        return await response.text()


@pytest.mark.parametrize("mode", ["buffered", "low_latency"])
async def test_the_answer_and_its_alternatives_are_windowed_apart(
        start_proxy, fake_upstream, mode: str) -> None:
    """BAD then WORD as the chosen tokens, with other tokens ranked beside them: the
    answer's own window still reads BADWORD whole, and is cut."""
    base, _ = await start_proxy(streaming={"mode": mode})
    fake_upstream.answer = lambda body: Stream(stream(("BAD", "xx"), ("WORD", "yy")))
    text = await relay(base)
    assert "content_filter" in text


async def test_a_clean_answer_keeps_its_log_probabilities(start_proxy, fake_upstream) -> None:
    base, _ = await start_proxy()
    pairs = [("Hi", "Hey"), (" there", " you")]
    fake_upstream.answer = lambda body: Stream(stream(*pairs))
    text = await relay(base)
    relayed = [orjson.loads(line[6:]) for line in text.splitlines()
               if line.startswith("data: {")]
    assert [c["choices"][0].get("logprobs") for c in relayed[1:3]] == [
        chunk(*pair)["choices"][0]["logprobs"] for pair in pairs]
    assert "content_filter" not in text
