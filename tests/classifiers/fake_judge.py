"""A fake OpenAI-compatible judge server (rubric judges, Llama Guard) on 127.0.0.1.

Each request is answered by ``script(body)``, which returns a ``Reply``: the content of
the answer, or an HTTP status with a raw body, after an optional delay. Requests are
recorded (headers and JSON body) so tests can check what the classifier sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer


@dataclass(frozen=True)
class Reply:
    content: str | None = None
    status: int = 200
    raw_body: str | None = None  # sent as is instead of a completion
    delay_s: float = 0.0


@dataclass
class FakeJudge:
    script: Callable[[dict[str, Any]], Reply]
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    base_url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        reply = self.script(body)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(reply.delay_s)
        finally:
            self.in_flight -= 1
        if reply.raw_body is not None or reply.status != 200:
            return web.Response(status=reply.status, text=reply.raw_body or "")
        return web.json_response({
            "id": "chatcmpl-fake", "object": "chat.completion", "model": body.get("model"),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": reply.content}}],
        })


@asynccontextmanager
async def fake_judge(script: Callable[[dict[str, Any]], Reply]) -> AsyncIterator[FakeJudge]:
    judge = FakeJudge(script)
    app = web.Application()
    app.router.add_post("/v1/chat/completions", judge.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    judge.base_url = str(server.make_url("/v1"))
    try:
        yield judge
    finally:
        await server.close()


def last_user_content(body: dict[str, Any]) -> str:
    content: str = body["messages"][-1]["content"]
    return content
