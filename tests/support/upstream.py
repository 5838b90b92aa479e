"""A fake upstream model API for tests: an aiohttp app whose answers a test scripts.

``FakeUpstream.answer`` is called with the parsed request body of any generation API
(chat completions, responses, completions, messages) and returns what to send:
a dict (JSON 200), ``Raw(status, body, content_type)``, or ``Stream(chunks, ...)`` where
chunks are raw bytes written one by one (so a test can split SSE at any byte). Every
request body and its headers are recorded in ``requests``.
"""

from __future__ import annotations

import asyncio
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
        if self.delay_s:
            try:
                await asyncio.sleep(self.delay_s)
            except asyncio.CancelledError:
                self.disconnected.set()  # the proxy dropped the request
                raise
        result = self.answer(body)
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
        return web.json_response({"object": "list", "path": request.match_info["tail"],
                                  "method": request.method, "query": request.query_string,
                                  "body": (await request.read()).decode()})


def completion(*contents: str, tool_arguments: str | None = None) -> dict[str, Any]:
    choices = []
    for index, content in enumerate(contents):
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if tool_arguments is not None:
            message["tool_calls"] = [{"id": "call_1", "type": "function", "function": {
                "name": "lookup", "arguments": tool_arguments}}]
        choices.append({"index": index, "message": message, "finish_reason": "stop",
                        "logprobs": None})
    return {"id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
            "model": "fake-model", "choices": choices,
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


def sse_chunks(pieces: list[str], n: int = 1, finish: str = "stop") -> list[bytes]:
    """A whole streamed answer as SSE events, one per piece (per choice), then [DONE]."""
    def chunk(index: int, delta: dict[str, Any], finish_reason: str | None) -> bytes:
        return sse.encode(orjson.dumps({
            "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0,
            "model": "fake-model", "choices": [{"index": index, "delta": delta,
                                                "finish_reason": finish_reason}]}))
    events = [chunk(i, {"role": "assistant", "content": ""}, None) for i in range(n)]
    events += [chunk(i, {"content": piece}, None) for piece in pieces for i in range(n)]
    events += [chunk(i, {}, finish) for i in range(n)]
    return [*events, sse.DONE_EVENT]
