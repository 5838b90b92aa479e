"""The demo upstream server: the four generation APIs the proxy moderates, JSON and SSE, and
``GET /v1/models``.

- ``POST /v1/chat/completions``: the prompt is the last user message's text;
- ``POST /v1/responses``: ``input`` when a string, else the last user message item's text;
- ``POST /v1/completions``: ``prompt`` (the last string of a list; "" for token ids);
- ``POST /v1/messages``: the last user message's text (Anthropic's error shape on a 400).

The answer is ``demo_answer(prompt)`` in the API's own wire format (``openai_wire``,
``anthropic_wire``); ``"stream": true`` streams it piece by piece. Deterministic and fast
(it is the baseline of the overhead benchmark); ``delay_ms`` adds a pause between streamed
writes, to watch a stream arrive; ``first_token_ms`` a pause before every answer, as a
model takes before its first token.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from proxy.demo import anthropic_wire, openai_wire
from proxy.demo.answers import Ask, demo_answer, last_user_text

MODEL = "demo-model"
DELAY_MS = web.AppKey("delay_ms", float)
FIRST_TOKEN_MS = web.AppKey("first_token_ms", float)
MAX_CHOICES = 8
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _openai_error(message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "param": None,
                      "code": None}}


@dataclass(frozen=True, slots=True)
class DemoApi:
    """One API the demo answers. ``prompt`` reads a request body: the prompt, or None when
    the body is not a request of this API (a 400 in ``error``'s shape). ``choices``: the
    API honours ``n``."""

    prompt: Callable[[dict[str, Any]], str | None]
    whole: Callable[[Ask], dict[str, Any]]
    stream: Callable[[Ask], list[bytes]]
    choices: bool = False
    error: Callable[[str], dict[str, Any]] = _openai_error


def _messages_prompt(body: dict[str, Any]) -> str | None:
    messages = body.get("messages")
    return last_user_text(messages) if isinstance(messages, list) else None


def _responses_prompt(body: dict[str, Any]) -> str | None:
    given = body.get("input")
    if isinstance(given, str):
        return given
    return last_user_text(given) if isinstance(given, list) else None


def _completions_prompt(body: dict[str, Any]) -> str | None:
    prompt = body.get("prompt")
    if isinstance(prompt, list):
        prompt = next((p for p in reversed(prompt) if isinstance(p, str)), "")
    return prompt if isinstance(prompt, str) else ""


APIS = {
    "/v1/chat/completions": DemoApi(_messages_prompt, openai_wire.chat_completion,
                                    openai_wire.chat_stream, choices=True),
    "/v1/completions": DemoApi(_completions_prompt, openai_wire.text_completion,
                               openai_wire.completion_stream, choices=True),
    "/v1/responses": DemoApi(_responses_prompt, openai_wire.response,
                             openai_wire.response_stream),
    "/v1/messages": DemoApi(_messages_prompt, anthropic_wire.message,
                            anthropic_wire.message_stream, error=anthropic_wire.error),
}


def create_demo_upstream(delay_ms: float = 0.0, first_token_ms: float = 0.0
                         ) -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[DELAY_MS] = delay_ms
    app[FIRST_TOKEN_MS] = first_token_ms
    for path, api in APIS.items():
        app.router.add_post(path, _handler(api))
    app.router.add_get("/v1/models", _models)
    return app


async def _models(request: web.Request) -> web.Response:
    body = {"object": "list", "data": [{"id": MODEL, "object": "model", "created": 0,
                                        "owned_by": "safety-proxy-demo"}]}
    return web.json_response(body, dumps=lambda o: orjson.dumps(o).decode())


def _handler(api: DemoApi) -> Handler:
    async def answer(request: web.Request) -> web.StreamResponse:
        body = await _json_object(request)
        prompt = api.prompt(body) if body is not None else None
        if body is None or prompt is None:
            return _json(api.error("invalid request"), status=400)
        ask = Ask(demo_answer(prompt), _model(body), _choices(body) if api.choices else 1)
        if request.app[FIRST_TOKEN_MS]:
            await asyncio.sleep(request.app[FIRST_TOKEN_MS] / 1000.0)
        if body.get("stream") is True:
            return await _send_stream(request, api.stream(ask))
        return _json(api.whole(ask))
    return answer


async def _json_object(request: web.Request) -> dict[str, Any] | None:
    """The request body as a JSON object; None when it is not one."""
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None


def _model(body: dict[str, Any]) -> str:
    model = body.get("model")
    return model if isinstance(model, str) and model else MODEL


def _choices(body: dict[str, Any]) -> int:
    """``n`` when an integer in 1..MAX_CHOICES, else 1."""
    n = body.get("n")
    return n if isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= MAX_CHOICES else 1


def _json(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


async def _send_stream(request: web.Request, writes: list[bytes]) -> web.StreamResponse:
    """Sends ``writes`` as an SSE response, pausing ``delay_ms`` between two writes."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-cache"})
    await response.prepare(request)
    delay = request.app[DELAY_MS] / 1000.0
    for number, chunk in enumerate(writes):
        if delay and number:
            await asyncio.sleep(delay)
        await response.write(chunk)
    await response.write_eof()
    return response
