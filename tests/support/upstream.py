"""A fake upstream model API for tests: an aiohttp app whose answers a test scripts. The
one fake of an OpenAI-compatible server in the suite: the proxy's upstream, and the judge
model of the LLM classifiers (tests/classifiers/fake_judge.py) are both this app.

``FakeUpstream.answer`` is called with the parsed request body of any generation API
(chat completions, responses, completions, messages) and returns what to send, or an
awaitable of it (to answer late): a dict (JSON 200), ``Raw(status, body, content_type)``,
or ``Stream(chunks, ...)`` where chunks are raw bytes written one by one (so a test can
split SSE at any byte). Every request body and its headers are recorded in ``requests``
and ``headers``; ``max_in_flight`` is the most requests it was answering at once.

The payload builders below (``completion``, ``chat_chunk``, ``sse_chunks``, ``sse_events``)
write the Chat Completions wire format once for every test.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from proxy.protocol import sse


@dataclass
class Raw:
    status: int
    body: bytes
    content_type: str = "application/json"


@dataclass
class Stream:
    chunks: list[bytes]
    delay_s: float = 0.0
    drop_after: int | None = None  # close the connection after this many chunks


@dataclass
class FakeUpstream:
    answer: Callable[[dict[str, Any]], Any] = lambda body: completion("Hello there!")
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    delay_s: float = 0.0
    disconnected: asyncio.Event = field(default_factory=asyncio.Event)
    response_headers: dict[str, str] = field(default_factory=dict)  # on every answer
    # (method, path after /v1/) of each request to another path, e.g. a DELETE
    others: list[tuple[str, str]] = field(default_factory=list)
    other_status: int = 200  # what those requests are answered with
    in_flight: int = 0
    max_in_flight: int = 0

    def app(self) -> web.Application:
        app = web.Application()
        for api_path in ("chat/completions", "responses", "completions", "messages"):
            app.router.add_post(f"/v1/{api_path}", self._chat)
        app.router.add_route("*", "/v1/{tail:.*}", self._other)
        return app

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await request.read())
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._respond(request, body)
        finally:
            self.in_flight -= 1

    async def _respond(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        try:
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            result = self.answer(body)
            if inspect.isawaitable(result):
                result = await result
        except asyncio.CancelledError:
            self.disconnected.set()  # the client dropped the request
            raise
        if isinstance(result, Stream):
            return await self._stream(request, result)
        if isinstance(result, Raw):
            return web.Response(body=result.body, status=result.status,
                                content_type=result.content_type,
                                headers=self.response_headers)
        return web.Response(body=orjson.dumps(result), content_type="application/json",
                            headers=self.response_headers)

    async def _stream(self, request: web.Request, script: Stream) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                               **self.response_headers})
        await response.prepare(request)
        try:
            for number, chunk in enumerate(script.chunks):
                if script.drop_after is not None and number >= script.drop_after:
                    assert request.transport is not None
                    request.transport.close()
                    return response
                await response.write(chunk)
                if script.delay_s:
                    await asyncio.sleep(script.delay_s)
        except (ConnectionError, asyncio.CancelledError):
            self.disconnected.set()
            raise
        await response.write_eof()
        return response

    async def _other(self, request: web.Request) -> web.Response:
        self.headers.append(dict(request.headers))
        self.others.append((request.method, request.match_info["tail"]))
        return web.json_response({"object": "list", "path": request.match_info["tail"],
                                  "method": request.method, "query": request.query_string,
                                  "body": (await request.read()).decode()},
                                 status=self.other_status)


def completion(*contents: str | None, tool_arguments: str | None = None) -> dict[str, Any]:
    """A whole chat completion, one choice per content (``None``: no text)."""
    messages = []
    for content in contents:
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if tool_arguments is not None:
            message["tool_calls"] = [{"id": "call_1", "type": "function", "function": {
                "name": "lookup", "arguments": tool_arguments}}]
        messages.append(message)
    return chat_completion(*messages)


def chat_completion(*messages: dict[str, Any]) -> dict[str, Any]:
    """A whole chat completion, one choice per assistant ``message`` (any fields)."""
    choices = [{"index": index, "message": message, "finish_reason": "stop", "logprobs": None}
               for index, message in enumerate(messages)]
    return {"id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
            "model": "fake-model", "choices": choices,
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


def chat_chunk(delta: dict[str, Any], finish_reason: str | None = None, index: int = 0,
               **extra: Any) -> dict[str, Any]:
    """One chunk of a streamed chat completion: ``delta`` for choice ``index``; ``extra``
    adds or replaces top-level fields (``choices=[]`` and ``usage`` for the usage chunk)."""
    return {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0,
            "model": "fake-model", "choices": [{"index": index, "delta": delta,
                                                "finish_reason": finish_reason}], **extra}


def sse_chunks(pieces: list[str], n: int = 1, finish: str = "stop") -> list[bytes]:
    """A whole streamed answer as SSE events, one per piece (per choice), then [DONE]."""
    def chunk(index: int, delta: dict[str, Any], finish_reason: str | None) -> bytes:
        return sse.encode(orjson.dumps(chat_chunk(delta, finish_reason, index)))
    events = [chunk(i, {"role": "assistant", "content": ""}, None) for i in range(n)]
    events += [chunk(i, {"content": piece}, None) for piece in pieces for i in range(n)]
    events += [chunk(i, {}, finish) for i in range(n)]
    return [*events, sse.DONE_EVENT]


SSEEvent = tuple[str | None, dict[str, Any] | str]  # (event name or None, JSON or raw data)


def sse_events(events: list[SSEEvent]) -> list[bytes]:
    """Each (event name, data) as one SSE event: a dict as JSON, a str (``[DONE]``) as is."""
    return [sse.encode(data if isinstance(data, str) else orjson.dumps(data), name)
            for name, data in events]
