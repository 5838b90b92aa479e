"""The Redis store: state shared by every replica.

Each operation is one command or one script, sent through the auto-pipeline (one round trip
shared by every caller of the same loop turn). Redis-py's own retries are off: the gate
decides what a failure means (store.on_error) and the health monitor reconnects with
backoff. Every failure surfaces as StoreError, whose message names no key or value.

Restarts: the auto-pipeline resends a batch once, on a fresh connection, when its pooled
socket turns out dead (closed or reset: never after a timeout or a reply error), and drops
the pool's other idle sockets, so a Redis restart fails no operation and does not mark the
store down; a Redis that is really down fails the resend too. The caller's wait stays
within ``timeout_s`` resend included (``_call`` bounds the whole of it); in the background
the batch's task may run one connect (``connect_timeout_s``) and one reply wait longer.

Why resending is safe here. A dead socket usually means the commands never reached a live
server (the restarted one never saw them), but a reply lost after the server ran them (a
reset on the way back) cannot be told apart, so every command must survive running twice.
The resend is the same bytes, random ids included:
  - reads (MGET, ZCOUNT, ZRANGEBYSCORE, XRANGE, PING): no effect;
  - idempotent writes (ZREM of a slot, SCRIPT LOAD, PUT_VERDICTS' SET ... PX): same state;
  - RESERVE: re-adds the same slot member, so at most one slot is held; but the second run
    counts the slot the first one took, so near the threshold it may refuse (throttled,
    Retry-After 1) and that slot stays held until slot_ttl_ms;
  - RECORD: the strike's nonce is in the resent bytes, so the strike is the same member
    (no double strike) and the escalation lands once; the review event is appended twice
    and the second run reports no new ban (metrics count it as a strike, not a ban);
  - CHARGE: the strikes' nonce is in the resent bytes too (no double strike), but the
    second run reads the throttle or ban the first one set: the request it charged is
    then refused (429/403), its strike kept;
  - UNBAN: the second run finds nothing to lift and reports False.
Those outcomes need the rare lost-reply case with the server still reachable at once;
each is bounded and none loosens a ban. Failing every such operation instead would mark
the store down (503s with store.on_error fail_closed) on every Redis restart.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, RedisError

from proxy.pipeline.ports import Ticket
from proxy.state import scripts
from proxy.state.base import (
    Ban,
    Charge,
    Escalation,
    Event,
    PrincipalState,
    RecordResult,
    Reservation,
    Standing,
    StoreError,
    strike_total,
)
from proxy.state.keys import Keys
from proxy.state.pipelining import AutoPipeline


class RedisStore:
    kind = "redis"

    def __init__(self, url: str, keys: Keys, *, timeout_s: float = 0.25,
                 connect_timeout_s: float = 0.5) -> None:
        self.keys = keys
        self._timeout_s = timeout_s
        self._redis = Redis.from_url(
            url, decode_responses=True, socket_timeout=timeout_s,
            socket_connect_timeout=connect_timeout_s, retry=Retry(NoBackoff(), 0),
            retry_on_timeout=False, health_check_interval=0)
        self.pipeline = AutoPipeline(self._redis)
        self._shas: dict[str, str] = {}

    async def _call(self, *command: Any) -> Any:
        """The reply, within timeout_s (a resend after a dead socket included)."""
        try:
            async with asyncio.timeout(self._timeout_s):
                return await self.pipeline.call(*command)
        except (RedisError, OSError, TimeoutError) as exc:
            raise StoreError(f"redis {command[0]} failed: {type(exc).__name__}") from None

    async def _script(self, source: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        sha = self._shas.get(source) or await self._load(source)
        try:
            return await self._call("EVALSHA", sha, len(keys), *keys, *args)
        except StoreError as exc:
            if not isinstance(exc.__context__, NoScriptError):
                raise
        return await self._call("EVALSHA", await self._load(source), len(keys), *keys, *args)

    async def _load(self, source: str) -> str:
        self._shas[source] = sha = await self._call("SCRIPT", "LOAD", source)
        return str(sha)

    async def standing(self, principal: str, now_ms: int) -> Standing:
        ban, throttle = await self._call("MGET", self.keys.ban(principal),
                                         self.keys.throttle(principal))
        return Standing(_live(ban, now_ms), _live(throttle, now_ms))

    async def reserve(self, principal: str, slot: str, policy: Escalation,
                      now_ms: int) -> Reservation:
        keys = (self.keys.ban(principal), self.keys.throttle(principal),
                self.keys.strikes(principal), self.keys.in_flight(principal))
        args = (now_ms, policy.window_ms, policy.throttle_at, policy.slot_weight,
                policy.slot_ttl_ms, slot)
        ban, throttle, reserved, live, strikes = await self._script(scripts.RESERVE, keys, args)
        return Reservation(Standing(_live(ban, now_ms), _live(throttle, now_ms)),
                           bool(int(reserved)), int(live), float(strikes))

    async def release(self, principal: str, slot: str) -> None:
        await self._call("ZREM", self.keys.in_flight(principal), slot)

    async def in_flight(self, principal: str, now_ms: int) -> int:
        return int(await self._call("ZCOUNT", self.keys.in_flight(principal), f"({now_ms}",
                                    "+inf"))

    async def record(self, principal: str | None, weight: float, event: Mapping[str, str] | None,
                     policy: Escalation, max_events: int, now_ms: int,
                     release: Ticket | None = None) -> RecordResult:
        # A strike-less record still needs hex-shaped keys; the script leaves them untouched.
        keyed = principal if principal is not None and weight > 0 else "0" * 64
        keys = (self.keys.strikes(keyed), self.keys.throttle(keyed), self.keys.ban(keyed),
                self.keys.bans, self.keys.events,
                self.keys.in_flight(release.principal if release else keyed))
        args: list[Any] = [now_ms, weight if keyed == principal else 0, secrets.token_hex(8),
                           policy.window_ms, policy.throttle_at, policy.throttle_ms,
                           policy.ban_at, policy.ban_ms, policy.max_strikes, max_events, keyed,
                           release.id if release else ""]
        for field, value in (event or {}).items():
            args += [field, value]
        total, step = await self._script(scripts.RECORD, keys, args)
        return RecordResult(float(total), step)

    async def charge(self, principals: Sequence[tuple[str, Escalation]], weight: float,
                     now_ms: int) -> Charge:
        keys: list[str] = [self.keys.bans]
        args: list[Any] = [now_ms, weight, secrets.token_hex(8)]
        for principal, policy in principals:
            keys += [self.keys.strikes(principal), self.keys.throttle(principal),
                     self.keys.ban(principal)]
            args += [policy.window_ms, policy.throttle_at, policy.throttle_ms, policy.ban_at,
                     policy.ban_ms, policy.max_strikes, principal]
        admitted, *flat = await self._script(scripts.CHARGE, keys, args)
        parts = [flat[i:i + 4] for i in range(0, len(flat), 4)]
        standings = tuple(Standing(_live(ban, now_ms), _live(throttle, now_ms))
                          for ban, throttle, _, _ in parts)
        if not int(admitted):
            return Charge(False, standings, ())
        return Charge(True, standings, tuple(RecordResult(float(total), step)
                                             for _, _, total, step in parts))

    async def get_verdicts(self, keys: Sequence[str], now_ms: int) -> list[str | None]:
        return list(await self._call("MGET", *keys)) if keys else []

    async def put_verdicts(self, items: Mapping[str, str], ttl_ms: int, now_ms: int) -> None:
        if items:
            await self._script(scripts.PUT_VERDICTS, list(items), [ttl_ms, *items.values()])

    async def bans(self, now_ms: int, limit: int) -> list[Ban]:
        flat = await self._call("ZRANGEBYSCORE", self.keys.bans, f"({now_ms}", "+inf",
                                "WITHSCORES", "LIMIT", 0, limit)
        pairs = flat if flat and isinstance(flat[0], (list, tuple)) else zip(
            flat[::2], flat[1::2], strict=True)
        return [Ban(principal, int(float(until))) for principal, until in pairs]

    async def banned_count(self, now_ms: int) -> int:
        return int(await self._call("ZCOUNT", self.keys.bans, f"({now_ms}", "+inf"))

    async def principal(self, principal: str, window_ms: int, now_ms: int) -> PrincipalState:
        standing, members = await asyncio.gather(
            self.standing(principal, now_ms),
            self._call("ZRANGEBYSCORE", self.keys.strikes(principal),
                       f"({now_ms - window_ms}", "+inf"))
        weights = [float(member.rpartition("|")[2]) for member in members]
        return PrincipalState(principal, strike_total(weights), len(weights),
                              standing.banned_until_ms, standing.throttled_until_ms)

    async def unban(self, principal: str) -> bool:
        keys = (self.keys.strikes(principal), self.keys.throttle(principal),
                self.keys.ban(principal), self.keys.bans)
        return bool(await self._script(scripts.UNBAN, keys, [principal]))

    async def events(self, after: str | None, count: int) -> list[Event]:
        start = f"({after}" if after else "-"
        return _events(await self._call("XRANGE", self.keys.events, start, "+", "COUNT", count))

    async def recent_events(self, count: int) -> list[Event]:
        newest = await self._call("XREVRANGE", self.keys.events, "+", "-", "COUNT", count)
        return _events(newest)[::-1]

    async def ping(self) -> None:
        """Checks the server and (re)loads the scripts, so no request pays for loading them
        (a restarted Redis has forgotten them). One round trip."""
        await asyncio.gather(self._call("PING"), *(self._load(source) for source in (
            scripts.RESERVE, scripts.RECORD, scripts.CHARGE, scripts.UNBAN,
            scripts.PUT_VERDICTS)))

    async def close(self) -> None:
        await self.pipeline.close()
        await self._redis.aclose()


def _live(until: str | None, now_ms: int) -> int:
    value = int(float(until)) if until else 0
    return value if value > now_ms else 0


def _events(entries: Sequence[Any]) -> list[Event]:
    return [Event(str(entry_id), dict(fields or {})) for entry_id, fields in entries]
