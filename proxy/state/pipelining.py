"""Auto-pipelining: Redis commands issued in the same event-loop turn share one round trip.

Concurrent requests (and the concurrent checks of one request) each ask for a few keys;
queuing their commands until the loop turn ends and sending them as one pipeline keeps the
hot path at one round trip per step, however many callers there are. On a Redis Cluster
the client's pipeline splits the batch by key slot and sends each node its part at once
(still one round trip of wall time); a command may also name its node (``target``: PING
and SCRIPT LOAD, which have no key).

Contract: ``call`` returns the command's reply or raises the command's own error (a
redis ``ResponseError``) or the pipeline's connection error. The batch runs in its own
task, so a caller that is cancelled does not cancel the others' commands.

Dead sockets: commands that fail with a connection error (their pooled socket was closed
or reset, as every pooled socket is once Redis restarts) are sent once more, after the
pool's sockets are retired; only a second failure reaches their callers. So a restart
costs one reconnect, not one failure per stale socket. Single Redis: the pipeline fails
whole, the idle pooled connections are closed and the whole batch is resent. Cluster:
the failure may be one node's part of the batch (its commands' replies are the connection
errors) or the whole send; the client's slot map is refreshed (CLUSTER SLOTS: a failed-over
primary's replica takes its slots) and every pooled socket is marked to reconnect when
next used (redis-py's cluster client does not refresh it for a pipeline), then the
commands that met the dead socket are resent. A timeout (anywhere in the batch), a reply
error (NOSCRIPT, WRONGTYPE, CLUSTERDOWN) or the server's own refusal (LOADING, auth) is not
retried: the server answered, or may still be working. The resend is the same bytes, so a
command that ran but whose reply was lost runs twice: callers send only commands for which
that is harmless (RedisStore says why each of its commands is).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from classifiers.tasks import spawn

Command = tuple[Any, ...]
_Queued = tuple[Command, Any, "asyncio.Future[Any]"]  # command, target node or None, reply


class AutoPipeline:
    def __init__(self, redis: Redis | RedisCluster) -> None:
        self._redis = redis
        self._queue: list[_Queued] = []
        self._running: set[asyncio.Task[None]] = set()  # what close waits for
        self.round_trips = 0  # pipelines sent, resends included; read by the benchmark
        self.commands = 0
        self.resends = 0  # batches sent again after a dead socket

    async def call(self, *command: Any, target: Any = None) -> Any:
        """One command's reply; ``target``: the cluster node to send a keyless command to."""
        return await self._enqueue(command, target)

    async def call_many(self, commands: Sequence[Command],
                        target: Any = None) -> list[Any]:
        """The replies of several commands queued at once (one round trip): each reply is
        the command's result or its error, as an exception instance (not raised)."""
        return await asyncio.gather(*(self._enqueue(command, target) for command in commands),
                                    return_exceptions=True)

    def _enqueue(self, command: Command, target: Any) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append((command, target, future))
        if len(self._queue) == 1:
            loop.call_soon(self._send)
        return future

    def _send(self) -> None:
        batch, self._queue = self._queue, []
        task = spawn(self._execute(batch), name="redis-autopipeline")
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _execute(self, batch: list[_Queued]) -> None:
        self.commands += len(batch)
        try:
            replies = await self._send_resending_once([(c, t) for c, t, _ in batch])
        except BaseException as exc:  # timeout, a client error, or this task cancelled
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(_as_exception(exc))
            if not isinstance(exc, Exception):
                raise
            return
        for (_, _, future), reply in zip(batch, replies, strict=True):
            if future.done():
                continue
            if isinstance(reply, BaseException):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    async def _send_resending_once(self, batch: list[tuple[Command, Any]]) -> list[Any]:
        """The batch's replies; the commands that met a dead socket are sent once more,
        after the pool's sockets are retired (they died alike), unless any command of the
        batch timed out."""
        replies = await self._replies(batch)
        dead = [index for index, reply in enumerate(replies) if dead_socket(reply)]
        if not dead or any(_timed_out(reply) for reply in replies):
            return replies
        self.resends += 1
        await self._retire_connections()
        try:
            again = await self._replies([batch[index] for index in dead])
        except Exception as exc:  # e.g. a timeout: it fails the resent commands only
            again = [exc] * len(dead)
        for index, reply in zip(dead, again, strict=True):
            replies[index] = reply
        return replies

    async def _replies(self, batch: list[tuple[Command, Any]]) -> list[Any]:
        """One round trip's replies (errors as exception instances); a dead socket met by
        the whole pipeline stands as the reply of each of its commands."""
        try:
            return await self._round_trip(batch)
        except Exception as exc:
            if not dead_socket(exc):
                raise
            return [exc] * len(batch)

    async def _round_trip(self, batch: list[tuple[Command, Any]]) -> list[Any]:
        self.round_trips += 1
        pipe = self._redis.pipeline(transaction=False)
        for command, target in batch:
            if target is None:
                pipe.execute_command(*command)
            else:
                pipe.execute_command(*command, target_nodes=target)
        return list(await pipe.execute(raise_on_error=False))

    async def _retire_connections(self) -> None:
        """Single Redis: closes every idle pooled connection (each reconnects when next
        taken; connections in use stay: their batches find out, and resend, on their own).
        Cluster: refreshes the slot map, which marks every pooled connection to reconnect
        when next taken. A failure here is no news: the resend will tell."""
        with contextlib.suppress(redis_errors.RedisError, redis_errors.RedisClusterException,
                                 OSError):
            if isinstance(self._redis, RedisCluster):
                await self._redis.nodes_manager.initialize()
            else:
                await self._redis.connection_pool.disconnect(inuse_connections=False)

    async def close(self) -> None:
        await asyncio.gather(*self._running, return_exceptions=True)


def dead_socket(exc: object) -> bool:
    """True for a socket that was closed or reset (nothing says the server saw the batch).

    redis-py's plain ConnectionError (exactly that class: its subclasses LOADING, auth
    failures and a full pool are the server's or the pool's answer, not a dead socket) and
    the OS's (reset, refused, broken pipe). Timeouts are not: the server may be busy
    running the batch, and waiting longer is what the store's timeout forbids.
    """
    return type(exc) is redis_errors.ConnectionError or isinstance(exc, ConnectionError)


def _timed_out(reply: object) -> bool:
    return isinstance(reply, (redis_errors.TimeoutError, TimeoutError))


def _as_exception(exc: BaseException) -> Exception:
    return exc if isinstance(exc, Exception) else ConnectionError("pipeline cancelled")
