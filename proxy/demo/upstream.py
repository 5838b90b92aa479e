"""The demo upstream server: /v1/chat/completions (JSON and SSE) and /v1/models.

Deterministic and fast (it is the baseline of the overhead benchmark). ``delay_ms`` adds a
pause between streamed chunks, to watch a stream arrive.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from aiohttp import web

from proxy.demo.answers import demo_answer, last_user_text
from proxy.protocol import sse

MODEL = "demo-model"
DELAY_MS = web.AppKey("delay_ms", float)


def create_demo_upstream(delay_ms: float = 0.0) -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[DELAY_MS] = delay_ms
    app.router.add_post("/v1/chat/completions", _chat)
    app.router.add_get("/v1/models", _models)
    return app


async def _models(request: web.Request) -> web.Response:
    body = {"object": "list", "data": [{"id": MODEL, "object": "model", "created": 0,
                                        "owned_by": "safety-proxy-demo"}]}
    return web.json_response(body, dumps=lambda o: orjson.dumps(o).decode())


async def _chat(request: web.Request) -> web.StreamResponse:
    try:
        body = orjson.loads(await request.read())
        messages = body["messages"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        error = {"error": {"message": "invalid request", "type": "invalid_request_error",
                           "param": None, "code": None}}
        return web.Response(body=orjson.dumps(error), status=400, content_type="application/json")
    answer = demo_answer(last_user_text(messages))
    n = body.get("n") if isinstance(body.get("n"), int) and 1 <= body["n"] <= 8 else 1
    model = body.get("model") or MODEL
    if body.get("stream") is True:
        return await _stream(request, answer, n, model)
    return web.Response(body=orjson.dumps(_completion(answer, n, model)),
                        content_type="application/json")


def _completion(answer: str, n: int, model: str) -> dict[str, Any]:
    words = len(answer.split())
    return {"id": "chatcmpl-demo", "object": "chat.completion", "created": int(time.time()),
            "model": model,
            "choices": [{"index": i, "message": {"role": "assistant", "content": answer},
                         "finish_reason": "stop", "logprobs": None} for i in range(n)],
            "usage": {"prompt_tokens": 10, "completion_tokens": words, "total_tokens": 10 + words}}


def _chunk(model: str, index: int, delta: dict[str, Any], finish: str | None) -> bytes:
    return sse.encode(orjson.dumps({
        "id": "chatcmpl-demo", "object": "chat.completion.chunk", "created": int(time.time()),
        "model": model, "choices": [{"index": index, "delta": delta, "finish_reason": finish,
                                     "logprobs": None}]}))


async def _stream(request: web.Request, answer: str, n: int, model: str) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-cache"})
    await response.prepare(request)
    delay = request.app[DELAY_MS] / 1000.0
    pieces = [word + " " for word in answer.split(" ")]
    pieces[-1] = pieces[-1].rstrip()
    for index in range(n):
        await response.write(_chunk(model, index, {"role": "assistant", "content": ""}, None))
    for piece in pieces:
        if delay:
            await asyncio.sleep(delay)
        await response.write(b"".join(_chunk(model, i, {"content": piece}, None)
                                      for i in range(n)))
    await response.write(b"".join(_chunk(model, i, {}, "stop") for i in range(n)) + sse.DONE_EVENT)
    await response.write_eof()
    return response
