"""A fake judge model (rubric judges, Llama Guard): the suite's fake OpenAI-compatible
server (tests/support/upstream.py) on 127.0.0.1, answering by a script.

Each request is answered by ``script(body)``, which returns a ``Reply``: the content of
the answer, or an HTTP status with a raw body, after an optional delay. Requests are
recorded (headers and JSON body) so tests can check what the classifier sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from tests.support.serving import serving
from tests.support.upstream import FakeUpstream, Raw, completion


@dataclass(frozen=True)
class Reply:
    content: str | None = None
    status: int = 200
    raw_body: str | None = None  # sent as is (text/plain) instead of a completion
    delay_s: float = 0.0


class FakeJudge(FakeUpstream):
    """A FakeUpstream answering each chat completion with ``script(body)``; ``base_url``
    (the ``/v1`` root) is set once it serves."""

    def __init__(self, script: Callable[[dict[str, Any]], Reply]) -> None:
        super().__init__(answer=self._reply)
        self.script = script
        self.base_url = ""

    async def _reply(self, body: dict[str, Any]) -> dict[str, Any] | Raw:
        reply = self.script(body)
        await asyncio.sleep(reply.delay_s)
        if reply.raw_body is not None or reply.status != 200:
            return Raw(reply.status, (reply.raw_body or "").encode(), "text/plain")
        return completion(reply.content)


@asynccontextmanager
async def fake_judge(script: Callable[[dict[str, Any]], Reply]) -> AsyncIterator[FakeJudge]:
    judge = FakeJudge(script)
    async with serving(judge.app()) as base_url:
        judge.base_url = f"{base_url}/v1"
        yield judge


def last_user_content(body: dict[str, Any]) -> str:
    content: str = body["messages"][-1]["content"]
    return content
