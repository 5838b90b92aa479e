"""Graceful shutdown (proxy/shutdown.py), with real signals: ``safety-proxy serve`` runs as a
subprocess in front of a fake upstream that streams slowly, and gets SIGTERM mid-stream."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.proxy.serve_process import ServeProcess, json_config, start_serve
from tests.proxy.state.helpers import eventually
from tests.support.upstream import FakeUpstream, Stream, completion, sse_chunks

pytestmark = pytest.mark.slow  # subprocesses, streams of several seconds

PIECE_DELAY_S = 0.25


def answer(body: dict[str, Any]) -> Any:
    """"stream N" in the last message: a stream of N pieces, one every PIECE_DELAY_S."""
    text = body["messages"][-1]["content"]
    if text.startswith("stream "):
        return Stream(sse_chunks(pieces(int(text.split()[1]))), delay_s=PIECE_DELAY_S)
    return completion("Hello there!")


def pieces(count: int) -> list[str]:
    return [f"w{number} " for number in range(count)]


def chat(text: str, stream: bool = False) -> dict[str, Any]:
    return {"model": "m", "stream": stream, "messages": [{"role": "user", "content": text}]}


async def read_stream(base: str, count: int, began: asyncio.Event) -> tuple[str, bytes]:
    """A streamed completion of ``count`` pieces: (its text, its last bytes); ``began`` is
    set once its first bytes are in. Raises on a cut connection."""
    async with aiohttp.ClientSession() as session, session.post(
            f"{base}/v1/chat/completions", json=chat(f"stream {count}", stream=True),
            headers={"Authorization": "Bearer sk-test"}) as response:
        assert response.status == 200
        body = await response.content.readany()
        began.set()
        body += await response.read()
    text = ""
    for line in body.decode().splitlines():
        if line.startswith("data: {"):
            for choice in json.loads(line[6:])["choices"]:
                text += choice["delta"].get("content") or ""
    return text, body[-40:]


async def get(base: str, path: str) -> tuple[int, dict[str, Any], str]:
    """(status, JSON body, Connection header) on a new connection."""
    async with aiohttp.ClientSession() as session, session.get(base + path) as response:
        return response.status, await response.json(), response.headers.get("Connection", "")


async def refused(base: str) -> bool:
    try:
        await get(base, "/healthz")
    except aiohttp.ClientConnectionError:
        return True
    return False


@pytest.fixture
async def upstream(serve_app) -> tuple[str, FakeUpstream]:
    fake = FakeUpstream(answer=answer)
    return await serve_app(fake.app()), fake


async def proxy_with(tmp_path: Path, upstream: tuple[str, FakeUpstream],
                     **server: float) -> ServeProcess:
    # windows of 8 characters: a stream's first bytes reach the client after a few pieces
    streaming = {"mode": "buffered", "window_chars": 8, "context_chars": 4}
    return await start_serve(tmp_path, json_config(upstream[0], server=server,
                                                   streaming=streaming))


async def test_sigterm_drains_then_lets_the_stream_in_flight_finish(tmp_path, upstream):
    served = await proxy_with(tmp_path, upstream, drain_s=2, shutdown_timeout_s=60)
    try:
        count, began = 40, asyncio.Event()  # 10 s: past the drain, within the timeout
        stream = asyncio.create_task(read_stream(served.base, count, began))
        await eventually(began.is_set, 30, "the stream never began")
        served.signal(signal.SIGTERM)
        await eventually(lambda: served.events("shutdown_started"), 30)
        status, body, _ = await get(served.base, "/readyz")
        assert (status, body["status"]) == (503, "draining")
        assert (await get(served.base, "/healthz"))[0] == 200  # liveness: still serving
        async with aiohttp.ClientSession() as session, session.post(
                f"{served.base}/v1/chat/completions", json=chat("hello"),
                headers={"Authorization": "Bearer sk-test"}) as response:
            assert response.status == 200, "a new request during the drain is served"
            assert (await response.json())["choices"][0]["message"]["content"] == "Hello there!"
            assert response.headers["Connection"] == "close"  # clients move elsewhere
        await eventually(lambda: served.events("drain_finished"), 30)
        assert not stream.done(), "the stream outlasts the drain (else nothing is tested)"
        assert await refused(served.base), "the listener closes after the drain"
        text, tail = await asyncio.wait_for(stream, 60)
        assert text == "".join(pieces(count)) and tail.endswith(b"data: [DONE]\n\n")
        assert await served.exit_code() == 0
    finally:
        await served.stop()
    (started,) = served.events("shutdown_started")
    assert started["signal"] == "SIGTERM" and started["in_flight"] == 1
    (drained,) = served.events("drain_finished")
    assert not drained["skipped"] and drained["served_during_drain"] >= 3
    assert drained["in_flight"] == 1
    (complete,) = served.events("shutdown_complete")
    assert (complete["finished"], complete["cut"]) == (1, 0)


async def test_a_second_signal_skips_the_drain_and_a_stream_past_the_timeout_is_cut(
        tmp_path, upstream):
    served = await proxy_with(tmp_path, upstream, drain_s=600, shutdown_timeout_s=1)
    try:
        began = asyncio.Event()
        stream = asyncio.create_task(read_stream(served.base, 2000, began))  # ~8 minutes
        await eventually(began.is_set, 30, "the stream never began")
        served.signal(signal.SIGTERM)
        await eventually(lambda: served.events("shutdown_started"), 30)
        assert (await get(served.base, "/readyz"))[0] == 503
        served.signal(signal.SIGINT)  # a drain of 600 s: only the skip ends it in time
        assert await served.exit_code(120) == 0
        with pytest.raises(aiohttp.ClientPayloadError):  # cut: no terminal event
            await asyncio.wait_for(stream, 60)
        await eventually(upstream[1].disconnected.is_set, 30, "the upstream call was not cancelled")
    finally:
        await served.stop()
    (drained,) = served.events("drain_finished")
    assert drained["skipped"] and drained["in_flight"] == 1
    (complete,) = served.events("shutdown_complete")
    assert (complete["finished"], complete["cut"]) == (0, 1)
