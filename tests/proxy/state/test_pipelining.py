"""Auto-pipelining: callers of one loop turn share a round trip but not each other's errors."""

from __future__ import annotations

import asyncio

import pytest
from redis import exceptions as redis_errors
from redis.exceptions import ResponseError

from proxy.state.base import StoreError
from proxy.state.keys import Keys
from proxy.state.pipelining import dead_socket
from proxy.state.redis_store import RedisStore
from tests.support.redis_server import RedisServer


async def test_one_round_trip_and_errors_stay_with_their_command(redis_server: RedisServer):
    store = RedisStore(redis_server.url, Keys("t"), timeout_s=2)
    redis_server.client().set("t:text", "plain")
    try:
        trips = store.pipeline.round_trips
        results = await asyncio.gather(
            store.pipeline.call("SET", "t:a", "1"), store.pipeline.call("INCR", "t:text"),
            store.pipeline.call("GET", "t:a"), return_exceptions=True)
        assert store.pipeline.round_trips == trips + 1
        assert results[0] is True and results[2] == "1"
        assert isinstance(results[1], ResponseError), "only the failing command fails"
        assert store.pipeline.resends == 0, "a reply error is an answer, not a dead socket"
    finally:
        await store.close()


async def test_a_lost_connection_fails_every_waiting_caller(redis_server: RedisServer):
    store = RedisStore(redis_server.url, Keys("t"), timeout_s=2)
    await store.ping()
    redis_server.kill()
    try:
        outcomes = await asyncio.gather(store.standing("a1" * 32, 0), store.ping(),
                                        return_exceptions=True)
        assert all(isinstance(outcome, StoreError) for outcome in outcomes), outcomes
        assert "a1" * 32 not in str(outcomes[0]), "no key in the message"
    finally:
        await store.close()


async def test_a_cancelled_caller_does_not_cancel_the_others(redis_server: RedisServer):
    store = RedisStore(redis_server.url, Keys("t"), timeout_s=2)
    try:
        doomed = asyncio.create_task(store.pipeline.call("SET", "t:doomed", "1"))
        survivor = asyncio.create_task(store.pipeline.call("SET", "t:kept", "1"))
        await asyncio.sleep(0)
        doomed.cancel()
        assert await survivor is True
        with pytest.raises(asyncio.CancelledError):
            await doomed
    finally:
        await store.close()


async def test_a_timeout_is_not_resent(redis_server: RedisServer) -> None:
    """The server may still be running the batch: waiting again would break timeout_s."""
    store = RedisStore(redis_server.url, Keys("t"), timeout_s=0.1)
    try:
        trips = store.pipeline.round_trips
        with pytest.raises(redis_errors.TimeoutError):
            await store.pipeline.call("BLPOP", "t:never", 0)  # never answers
        assert (store.pipeline.round_trips, store.pipeline.resends) == (trips + 1, 0)
    finally:
        await store.close()


@pytest.mark.parametrize(("error", "dead"), [
    (redis_errors.ConnectionError("Connection closed by server."), True),
    (ConnectionResetError(104, "Connection reset by peer"), True),
    (BrokenPipeError(32, "Broken pipe"), True),
    (redis_errors.TimeoutError("Timeout reading from socket"), False),
    (TimeoutError(), False),
    (redis_errors.BusyLoadingError("LOADING"), False),
    (redis_errors.AuthenticationError("WRONGPASS"), False),
    (redis_errors.MaxConnectionsError("Too many connections"), False),
    (redis_errors.NoScriptError("NOSCRIPT"), False),
    (ResponseError("WRONGTYPE"), False),
])
def test_only_a_closed_or_reset_socket_counts_as_dead(error: Exception, dead: bool) -> None:
    assert dead_socket(error) is dead
