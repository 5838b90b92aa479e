"""Auto-pipelining: Redis commands issued in the same event-loop turn share one round trip.

Concurrent requests (and the concurrent checks of one request) each ask for a few keys;
queuing their commands until the loop turn ends and sending them as one pipeline keeps the
hot path at one round trip per step, however many callers there are.

Contract: ``call`` returns the command's reply or raises the command's own error (a
redis ``ResponseError``) or the pipeline's connection error. The batch runs in its own
task, so a caller that is cancelled does not cancel the others' commands.

Dead sockets: a batch that fails with a connection error (the pooled socket was closed or
reset, as every pooled socket is once Redis restarts) drops all idle pooled connections and
is sent once more, on a fresh connection; only a second failure reaches the callers. So a
restart costs one reconnect, not one failure per stale socket. A timeout, a reply error
(NOSCRIPT, WRONGTYPE) or the server's own refusal (LOADING, auth) is not retried: the
server answered, or may still be working. The resend is the same bytes, so a command that
ran but whose reply was lost runs twice: callers send only commands for which that is
harmless (RedisStore says why each of its commands is).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from redis import exceptions as redis_errors
from redis.asyncio import Redis

Command = tuple[Any, ...]


class AutoPipeline:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._queue: list[tuple[Command, asyncio.Future[Any]]] = []
        self._running: set[asyncio.Task[None]] = set()
        self.round_trips = 0  # pipelines sent, resends included; read by the benchmark
        self.commands = 0
        self.resends = 0  # batches sent again after a dead socket

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

    async def _execute(self, batch: list[tuple[Command, asyncio.Future[Any]]]) -> None:
        self.commands += len(batch)
        try:
            replies = await self._send_resending_once([command for command, _ in batch])
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

    async def _send_resending_once(self, commands: list[Command]) -> list[Any]:
        """The batch's replies; after a dead socket, those of one resend on a fresh
        connection (the pool's idle connections are dropped first: they died alike)."""
        try:
            return await self._round_trip(commands)
        except Exception as exc:
            if not dead_socket(exc):
                raise
        self.resends += 1
        await self._drop_idle_connections()
        return await self._round_trip(commands)

    async def _round_trip(self, commands: list[Command]) -> list[Any]:
        self.round_trips += 1
        pipe = self._redis.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        return list(await pipe.execute(raise_on_error=False))

    async def _drop_idle_connections(self) -> None:
        """Closes every idle pooled connection; each reconnects when next taken. Connections
        in use stay: their batches find out (and resend) on their own. Closing an idle
        socket does not wait on the peer, and a failure to close one is no news."""
        with contextlib.suppress(redis_errors.RedisError, OSError):
            await self._redis.connection_pool.disconnect(inuse_connections=False)

    async def close(self) -> None:
        await asyncio.gather(*self._running, return_exceptions=True)


def dead_socket(exc: BaseException) -> bool:
    """True for a socket that was closed or reset (nothing says the server saw the batch).

    redis-py's plain ConnectionError (exactly that class: its subclasses LOADING, auth
    failures and a full pool are the server's or the pool's answer, not a dead socket) and
    the OS's (reset, refused, broken pipe). Timeouts are not: the server may be busy
    running the batch, and waiting longer is what the store's timeout forbids.
    """
    return type(exc) is redis_errors.ConnectionError or isinstance(exc, ConnectionError)


def _as_exception(exc: BaseException) -> Exception:
    return exc if isinstance(exc, Exception) else ConnectionError("pipeline cancelled")
