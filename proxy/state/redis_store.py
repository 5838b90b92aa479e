"""The Redis store: state shared by every replica, on one Redis or a Redis Cluster.

Each operation is one command or one script, sent through the auto-pipeline (one round trip
shared by every caller of the same loop turn). Redis-py's own retries are off: the gate
decides what a failure means (store.on_error) and the health monitor reconnects with
backoff. Every failure surfaces as StoreError, whose message names no key or value.

Cluster (``store.cluster: true``): the same keys, scripts and code path as a single Redis,
over redis-py's ``RedisCluster``. Every script touches one principal's keys, which share its
hash tag (keys.py), so it runs on that principal's node; the bans index and the review
stream live under one global tag, on one node. Scripts are run by EVALSHA, falling back to
EVAL (which caches the script on the node that ran it) on NOSCRIPT; ``ping`` loads them on
every primary. What a cluster gives up, and why it is acceptable:
  - the review event and the bans-index entry of a record (and the index entry of a ban
    set by a charge) are written after the principal's script, in a second round trip
    (records run in the background; a charge pays it only when it bans). Once a
    principal's strike has landed, a failed follow-up write is not an error (a replay
    would strike twice): it waits in a bounded backlog sent ahead of the next follow-up
    writes. A ban works without its index entry (admission reads the ban key); only the
    admin listing and the banned gauge lag;
  - a charge of principals in different slots (an application key and the end user it
    names) is one atomic script per slot, run one after the other from the last principal
    to the first (the end user before the key). A slot that refuses (banned or throttled)
    stops the charge; the strikes already added by it are removed (ZREM of its strike
    member, sent before the answer). Each principal's own count stays exact under any
    concurrency; across principals, a race can leave a throttle or ban that an undone
    strike set on the end user (stricter, never looser, and only while its key refuses
    every request anyway). On a single Redis all principals are one script, as before.
  - the global slot is a hot spot: only flagged or blocked requests (events) and bans
    (index) write it, and it holds two keys, so one node takes that load easily.

Restarts: the auto-pipeline resends commands once, on fresh connections, when their pooled
socket turns out dead (closed or reset: never after a timeout or a reply error; on a
cluster the slot map is refreshed first), so a Redis restart fails no operation and does
not mark the store down; a Redis that is really down fails the resend too. The caller's
wait stays within ``timeout_s`` resend included (``_call`` bounds the whole of it).

Why resending is safe here. A dead socket usually means the commands never reached a live
server (the restarted one never saw them), but a reply lost after the server ran them (a
reset on the way back) cannot be told apart, so every command must survive running twice.
The resend is the same bytes, random ids included:
  - reads (GET, MGET, ZCOUNT, ZRANGEBYSCORE, XRANGE, PING): no effect;
  - idempotent writes (ZREM of a slot or a strike, SCRIPT LOAD, SET ... PX of a verdict,
    INDEX_BAN's ZADD): same state;
  - RESERVE: re-adds the same slot member, so at most one slot is held; but the second run
    counts the slot the first one took, so near the threshold it may refuse (throttled,
    Retry-After 1) and that slot stays held until slot_ttl_ms;
  - RECORD, CHARGE: the strike's nonce is in the resent bytes, so the strike is the same
    member (no double strike) and an escalation lands once; the second run reports no
    new ban, and a resent CHARGE reads the throttle or ban the first run set: the request
    it charged is then refused (429/403), its strike kept;
  - XADD of a review event: appended twice;
  - UNBAN: the second run finds nothing to lift and reports False.
Those outcomes need the rare lost-reply case with the server still reachable at once;
each is bounded and none loosens a ban. Failing every such operation instead would mark
the store down (503s with store.on_error fail_closed) on every Redis restart.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.exceptions import NoScriptError, RedisClusterException, RedisError

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
from proxy.state.keys import Keys, check_principal
from proxy.state.pipelining import AutoPipeline, Command
from proxy.state.ports import Ticket

_FAILURES = (RedisError, RedisClusterException, OSError, TimeoutError)
_LOADED = (scripts.RESERVE, scripts.RECORD, scripts.CHARGE, scripts.UNBAN)


class RedisStore:
    kind = "redis"

    def __init__(self, url: str, keys: Keys, *, cluster: bool = False, timeout_s: float = 0.25,
                 connect_timeout_s: float = 0.5, max_backlog: int = 10_000) -> None:
        self.keys, self.cluster = keys, cluster
        self._timeout_s = timeout_s
        self._redis = _client(url, cluster, timeout_s, connect_timeout_s)
        self.pipeline = AutoPipeline(self._redis)
        self._shas = {source: scripts.sha1(source) for source in scripts.ALL}
        # Follow-up writes (review events, bans-index entries, slot releases) whose record
        # already struck its principal: written ahead of the next follow-up writes.
        self.backlog: deque[Command] = deque(maxlen=max_backlog)

    async def _call(self, *command: Any) -> Any:
        """The reply, within timeout_s (a resend after a dead socket included)."""
        try:
            async with asyncio.timeout(self._timeout_s):
                return await self.pipeline.call(*command)
        except _FAILURES as exc:
            raise _failed(command, exc) from None

    async def _call_many(self, commands: Sequence[Command], target: Any = None) -> list[Any]:
        """The replies of ``commands`` (one round trip), or StoreError for the first that
        failed (each ran or failed on its own)."""
        replies = await self._replies(commands, target)
        for command, reply in zip(commands, replies, strict=True):
            if isinstance(reply, BaseException):
                raise _failed(command, reply) from None
        return replies

    async def _replies(self, commands: Sequence[Command], target: Any = None) -> list[Any]:
        """Each command's reply or error (an exception instance), within timeout_s."""
        try:
            async with asyncio.timeout(self._timeout_s):
                return await self.pipeline.call_many(commands, target)
        except _FAILURES as exc:
            return [exc] * len(commands)

    async def _script(self, source: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        try:
            return await self._call("EVALSHA", self._shas[source], len(keys), *keys, *args)
        except StoreError as exc:
            if not isinstance(exc.__context__, NoScriptError):
                raise
        return await self._call("EVAL", source, len(keys), *keys, *args)

    def _principal_keys(self, principal: str) -> tuple[str, str, str]:
        """strikes, throttle, ban: the keys RECORD, CHARGE and UNBAN take, in that order."""
        return (self.keys.strikes(principal), self.keys.throttle(principal),
                self.keys.ban(principal))

    def standing_in_process(self, principal: str, now_ms: int) -> None:
        return None  # in Redis: every read is a round trip

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
        """The strike (with the principal's own slot freed) in one script; then, in one more
        round trip, any other slot's release, the review event and the bans-index entry."""
        result, stamp, follow_ups = RecordResult(0.0, ""), {"strikes": "0", "escalation": ""}, []
        struck = principal is not None and weight > 0
        if principal is not None and struck:
            own = release if release is not None and release.principal == principal else None
            total, step = await self._strike(principal, weight, policy, now_ms,
                                             own.id if own else "")
            release = None if own else release
            result, stamp = RecordResult(float(total), step), {"strikes": total, "escalation": step}
            follow_ups += self._ban_index(principal, step, policy, now_ms)
        if release is not None:  # after the strike: it counts before the slot stops counting
            follow_ups.append(("ZREM", self.keys.in_flight(release.principal), release.id))
        if event is not None:  # a strike's own figures win; else those the event tells
            follow_ups.append(self._xadd({**event, **stamp} if struck else {**stamp, **event},
                                         max_events))
        await self._follow_up(follow_ups, landed=struck)
        return result

    def _xadd(self, fields: Mapping[str, str], max_events: int) -> Command:
        return ("XADD", self.keys.events, "MAXLEN", "~", max_events, "*",
                *(part for pair in fields.items() for part in pair))

    async def _strike(self, principal: str, weight: float, policy: Escalation, now_ms: int,
                      slot: str) -> tuple[str, Any]:
        args = (now_ms, _member(weight), policy.window_ms, policy.throttle_at,
                policy.throttle_ms, policy.ban_at, policy.ban_ms, policy.max_strikes, slot)
        total, step = await self._script(scripts.RECORD, (*self._principal_keys(principal),
                                                          self.keys.in_flight(principal)), args)
        return str(total), step

    def _ban_index(self, principal: str, step: str, policy: Escalation,
                   now_ms: int) -> list[Command]:
        """The bans-index write of a ban just set (EVAL: rare, and needs no loading)."""
        if step != "ban":
            return []
        return [("EVAL", scripts.INDEX_BAN, 1, self.keys.bans, now_ms, now_ms + policy.ban_ms,
                 policy.ban_ms, principal)]

    async def _follow_up(self, commands: list[Command], *, landed: bool) -> None:
        """Sends ``commands``, after the backlog, in one round trip. Failed ones wait in the
        backlog, unless nothing of the caller's operation has landed: then StoreError (the
        gate keeps the record and replays it whole, which is safe)."""
        if not commands:
            return
        batch = [*self.backlog, *commands]
        self.backlog.clear()
        replies = await self._replies(batch)
        failed = [command for command, reply in zip(batch, replies, strict=True)
                  if isinstance(reply, BaseException)]
        mine = replies[len(batch) - len(commands):]
        if not landed and all(isinstance(reply, BaseException) for reply in mine):
            self.backlog.extend(command for command in failed if command not in commands)
            raise _failed(commands[0], mine[0]) from None
        self.backlog.extend(failed)

    async def charge(self, principals: Sequence[tuple[str, Escalation]], weight: float,
                     now_ms: int) -> Charge:
        member, charged = _member(weight), list[int]()
        standings: dict[int, Standing] = {}
        results: dict[int, RecordResult] = {}
        for group in self._charge_groups(principals):
            admitted = await self._charge_group(principals, group, member, now_ms, standings,
                                                results)
            if not admitted:
                await self._uncharge(principals, charged, member)
                return Charge(False, await self._all_standings(principals, standings, now_ms),
                              ())
            charged += group
        await self._follow_up([command for index in charged
                               for command in self._ban_index(
                                   principals[index][0], results[index].escalation,
                                   principals[index][1], now_ms)], landed=True)
        return Charge(True, tuple(standings[i] for i in range(len(principals))),
                      tuple(results[i] for i in range(len(principals))))

    def _charge_groups(self, principals: Sequence[tuple[str, Escalation]]) -> list[list[int]]:
        """Indexes of the principals one CHARGE script takes: all of them on a single Redis;
        on a cluster one group per slot, the last principal's group first."""
        if not self.cluster:
            return [list(range(len(principals)))]
        groups: dict[int, list[int]] = {}
        for index in reversed(range(len(principals))):
            slot = key_slot(self.keys.strikes(principals[index][0]).encode())
            groups.setdefault(slot, []).insert(0, index)
        return list(groups.values())

    async def _charge_group(self, principals: Sequence[tuple[str, Escalation]],
                            group: list[int], member: str, now_ms: int,
                            standings: dict[int, Standing],
                            results: dict[int, RecordResult]) -> bool:
        """Runs CHARGE for ``group``; fills in its standings and (if admitted) results."""
        keys: list[str] = []
        args: list[Any] = [now_ms, member]
        for index in group:
            principal, policy = principals[index]
            keys += self._principal_keys(principal)
            args += [policy.window_ms, policy.throttle_at, policy.throttle_ms, policy.ban_at,
                     policy.ban_ms, policy.max_strikes]
        admitted, *flat = await self._script(scripts.CHARGE, keys, args)
        for index, at in zip(group, range(0, len(flat), 4), strict=True):
            ban, throttle, total, step = flat[at:at + 4]
            standings[index] = Standing(_live(ban, now_ms), _live(throttle, now_ms))
            results[index] = RecordResult(float(total), step)
        return bool(int(admitted))

    async def _uncharge(self, principals: Sequence[tuple[str, Escalation]],
                        charged: list[int], member: str) -> None:
        """Removes the strike ``member`` from principals charged before a later slot
        refused (cluster only); a removal that fails now waits in the backlog."""
        await self._follow_up([("ZREM", self.keys.strikes(principals[index][0]), member)
                               for index in charged], landed=True)

    async def _all_standings(self, principals: Sequence[tuple[str, Escalation]],
                             known: dict[int, Standing], now_ms: int) -> tuple[Standing, ...]:
        """Every principal's standing: those a CHARGE read, the others read now."""
        missing = [index for index in range(len(principals)) if index not in known]
        read = await asyncio.gather(*(self.standing(principals[index][0], now_ms)
                                      for index in missing))
        return tuple({**known, **dict(zip(missing, read, strict=True))}[index]
                     for index in range(len(principals)))

    async def get_verdicts(self, keys: Sequence[str], now_ms: int) -> list[str | None]:
        """One GET per key (a cluster spreads verdicts over every node), one round trip."""
        return await self._call_many([("GET", key) for key in keys]) if keys else []

    async def put_verdicts(self, items: Mapping[str, str], ttl_ms: int, now_ms: int) -> None:
        if items:
            await self._call_many([("SET", key, value, "PX", ttl_ms)
                                   for key, value in items.items()])

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
        """The principal's keys (one script) and its bans-index entry, in one round trip."""
        lifted, _ = await asyncio.gather(
            self._script(scripts.UNBAN, self._principal_keys(principal), ()),
            self._call("ZREM", self.keys.bans, principal))
        return bool(lifted)

    async def client_keys(self) -> dict[str, str]:
        return dict(await self._call("HGETALL", self.keys.client_keys) or {})

    async def client_key(self, key_hash: str) -> str | None:
        record = await self._call("HGET", self.keys.client_keys, check_principal(key_hash))
        return None if record is None else str(record)

    async def put_client_key(self, key_hash: str, record: str) -> None:
        await self._call("HSET", self.keys.client_keys, check_principal(key_hash), record)

    async def delete_client_key(self, key_hash: str) -> bool:
        return bool(await self._call("HDEL", self.keys.client_keys, check_principal(key_hash)))

    async def events(self, after: str | None, count: int) -> list[Event]:
        start = f"({after}" if after else "-"
        return _events(await self._call("XRANGE", self.keys.events, start, "+", "COUNT", count))

    async def recent_events(self, count: int) -> list[Event]:
        newest = await self._call("XREVRANGE", self.keys.events, "+", "-", "COUNT", count)
        return _events(newest)[::-1]

    async def ping(self) -> None:
        """Checks the server (every primary of a cluster) and loads the scripts there, so
        no request pays for loading them (a restarted Redis has forgotten them). One round
        trip (a cluster client's first also reads the slot map)."""
        commands = [("PING",), *(("SCRIPT", "LOAD", source) for source in _LOADED)]
        await asyncio.gather(*(self._call_many(commands, node) for node in await self._nodes()))

    async def _nodes(self) -> list[Any]:
        """[None] (the one server), or every primary of the cluster."""
        if not isinstance(self._redis, RedisCluster):
            return [None]
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._redis.initialize()  # a no-op once the slot map is known
        except _FAILURES as exc:
            raise _failed(("CLUSTER", "SLOTS"), exc) from None
        return list(self._redis.get_primaries())

    async def close(self) -> None:
        await self.pipeline.close()
        await self._redis.aclose()


def _client(url: str, cluster: bool, timeout_s: float,
            connect_timeout_s: float) -> Redis | RedisCluster:
    if cluster:
        return RedisCluster.from_url(
            url, decode_responses=True, socket_timeout=timeout_s,
            socket_connect_timeout=connect_timeout_s, retry=Retry(NoBackoff(), 0),
            health_check_interval=0)
    return Redis.from_url(
        url, decode_responses=True, socket_timeout=timeout_s,
        socket_connect_timeout=connect_timeout_s, retry=Retry(NoBackoff(), 0),
        retry_on_timeout=False, health_check_interval=0)


def _failed(command: Sequence[Any], exc: BaseException) -> StoreError:
    """The error callers see: the command's name and the failure's class, nothing else."""
    error = StoreError(f"redis {command[0]} failed: {type(exc).__name__}")
    error.__context__ = exc
    return error


def _member(weight: float) -> str:
    """A strike's sorted-set member: a fresh nonce (no two strikes merge) and the weight."""
    return f"{secrets.token_hex(8)}|{weight}"


def _live(until: str | None, now_ms: int) -> int:
    value = int(float(until)) if until else 0
    return value if value > now_ms else 0


def _events(entries: Sequence[Any]) -> list[Event]:
    return [Event(str(entry_id), dict(fields or {})) for entry_id, fields in entries]
