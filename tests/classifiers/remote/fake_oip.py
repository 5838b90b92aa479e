"""A fake Open Inference Protocol server (aiohttp, real wire format) for the client's faults
and batching: it records every inference call, and answers from a script of faults before
scoring normally (each column of a text's row: a function of the text and the column)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

LABELS = ["safe", "unsafe"]
Fault = Callable[[dict[str, Any]], web.StreamResponse | None]


def score(text: str, column: int) -> float:
    return round(((len(text) * 7 + column * 3) % 10) / 10, 3)


@dataclass
class FakeOIP:
    model: str = "guard"
    labels: list[str] | None = field(default_factory=lambda: list(LABELS))
    faults: list[Fault] = field(default_factory=list)  # one per infer call, first first
    infer_delay_s: float = 0.0
    calls: list[dict[str, Any]] = field(default_factory=list)  # each call's body and headers

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v2/health/ready", self._ok)
        app.router.add_get(f"/v2/models/{self.model}/ready", self._ok)
        app.router.add_get(f"/v2/models/{self.model}", self._metadata)
        app.router.add_post(f"/v2/models/{self.model}/infer", self._infer)
        return app

    async def _ok(self, _: web.Request) -> web.Response:
        return web.json_response({})

    async def _metadata(self, _: web.Request) -> web.Response:
        width = len(self.labels) if self.labels else 2
        output: dict[str, Any] = {"name": "scores", "datatype": "FP32", "shape": [-1, width]}
        if self.labels:
            output["parameters"] = {"labels": self.labels}
        return web.json_response({"name": self.model, "platform": "fake",
                                  "inputs": [{"name": "text", "datatype": "BYTES",
                                              "shape": [-1]}],
                                  "outputs": [output]})

    async def _infer(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.calls.append({"body": body, "authorization": request.headers.get("Authorization")})
        if self.faults:
            answer = self.faults.pop(0)(body)
            if answer is not None:
                return answer
        if self.infer_delay_s:
            await asyncio.sleep(self.infer_delay_s)
        return web.json_response(answer_for(body["inputs"][0]["data"], len(LABELS)))

    @property
    def batch_sizes(self) -> list[int]:
        return [call["body"]["inputs"][0]["shape"][0] for call in self.calls]


def answer_for(texts: list[str], width: int) -> dict[str, Any]:
    data = [score(text, column) for text in texts for column in range(width)]
    return {"model_name": "guard", "parameters": {"inference_ms": 0.1},
            "outputs": [{"name": "scores", "datatype": "FP32",
                         "shape": [len(texts), width], "data": data}]}


def status(code: int, text: str = "") -> Fault:
    return lambda _: web.Response(status=code, text=text)


def replaced(change: Callable[[dict[str, Any]], None]) -> Fault:
    """A fault that answers a correct body after ``change`` edits it."""
    def answer(body: dict[str, Any]) -> web.Response:
        correct = answer_for(body["inputs"][0]["data"], len(LABELS))
        change(correct)
        return web.json_response(correct)
    return answer
