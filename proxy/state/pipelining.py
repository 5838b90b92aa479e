"""Auto-pipelining: Redis commands issued in the same event-loop turn share one round trip.

Concurrent requests (and the concurrent checks of one request) each ask for a few keys;
queuing their commands until the loop turn ends and sending them as one pipeline keeps the
hot path at one round trip per step, however many callers there are.

Contract: ``call`` returns the command's reply or raises the command's own error (a
redis ``ResponseError``) or the pipeline's connection error. The batch runs in its own
task, so a caller that is cancelled does not cancel the others' commands.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis


class AutoPipeline:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._queue: list[tuple[tuple[Any, ...], asyncio.Future[Any]]] = []
        self._running: set[asyncio.Task[None]] = set()
        self.round_trips = 0  # pipelines sent; read by the benchmark
        self.commands = 0

    async def call(self, *command: Any) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append((command, future))
        if len(self._queue) == 1:
            loop.call_soon(self._send)
        return await future

    def _send(self) -> None:
        batch, self._queue = self._queue, []
        task = asyncio.create_task(self._execute(batch), name="redis-autopipeline")
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _execute(self, batch: list[tuple[tuple[Any, ...], asyncio.Future[Any]]]) -> None:
        self.round_trips += 1
        self.commands += len(batch)
        try:
            pipe = self._redis.pipeline(transaction=False)
            for command, _ in batch:
                pipe.execute_command(*command)
            replies = await pipe.execute(raise_on_error=False)
        except BaseException as exc:  # connection lost, timeout, or this task cancelled
            for _, future in batch:
                if not future.done():
                    future.set_exception(_as_exception(exc))
            if not isinstance(exc, Exception):
                raise
            return
        for (_, future), reply in zip(batch, replies, strict=True):
            if future.done():
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    async def close(self) -> None:
        await asyncio.gather(*self._running, return_exceptions=True)


def _as_exception(exc: BaseException) -> Exception:
    return exc if isinstance(exc, Exception) else ConnectionError("pipeline cancelled")
