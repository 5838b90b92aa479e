"""The verdict cache: scores by (check, classifier version, sha256 of the text).

A small in-process LRU sits in front of a shared store (Redis), both with the same TTL; with
the memory store the LRU alone is the cache. A conversation
re-sends its history every turn, so most texts of a turn hit the LRU (same replica) or the
store (another replica); only new messages reach a classifier.

Contract: never raises. A store failure is a miss (counted as a store error); writes to the
store happen in the background, off the request's path. A cached value that does not
parse as scores is a miss. An in-process check's verdicts (``Classifier.in_process``: a
regex reader, a linear model) stay in the LRU (``scored_here``, or ``local`` and
``put_many(shared=False)`` when it is awaited): a round trip to the store costs more than
scoring the text again. They are kept from their text's second miss on (``SeenOnce``), so
texts sent once never churn the LRU: the fast preset's three in-process verdicts a request
cost 38 us of CPU at c=16 (1,483 -> 1,573 req/s, an interleaved A/B of 10 rounds).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

import orjson

from classifiers.base import Scores
from classifiers.tasks import spawn
from proxy.config.state_settings import CacheConfig
from proxy.observability.metrics import Metrics
from proxy.state.base import Store, StoreError
from proxy.state.health import StoreHealth
from proxy.state.keys import Keys, text_digest
from proxy.state.memory import ExpiringMap

MAX_BACKGROUND_WRITES = 256  # beyond this, store writes are dropped (the LRU still has them)


class StoreVerdictCache:
    def __init__(self, store: Store, health: StoreHealth, metrics: Metrics, keys: Keys,
                 config: CacheConfig, clock: Callable[[], float] = time.time) -> None:
        self.store, self.health, self.metrics, self.keys = store, health, metrics, keys
        self.clock = clock
        self._ttl_s, self._size = config.ttl_s, config.local_entries
        # The in-process LRU: at most local_entries, each for ttl_s from its last write
        # (read on self.clock, so tests can drive it).
        self._local: ExpiringMap[Scores] = ExpiringMap(max(self._size, 1), keep_used=True)
        self._writes: set[asyncio.Task[None]] = set()  # counted (bounded) and awaited by close
        # An in-process verdict is kept from its text's second miss (SeenOnce): most texts
        # are sent once (a new prompt, an answer), and scoring one costs less than the LRU's
        # churn; a conversation's history, re-sent every turn, is kept.
        self._seen_once = SeenOnce()
        # With the memory store the LRU is the whole cache: a second in-process copy would
        # only cost time. Only a shared store is worth a lookup after a local miss.
        self._shared = store.kind != "memory"
        self._hits, self._misses = (metrics.cache_lookups.labels(r) for r in ("hit", "miss"))

    def local(self, check: str, version: str, texts: Sequence[str]) -> list[Scores | None]:
        found, _ = self._looked_up(check, version, texts)
        self._count(found)
        return found

    def scored_here(self, check: str, version: str, texts: Sequence[str],
                    score: Callable[[list[int]], Sequence[Scores]]) -> tuple[list[Scores], int]:
        """Each text's scores: this process's copy, or for the texts it lacks, what
        ``score`` returns (called once, with their positions, only when some are missing;
        kept here from a text's second miss, never shared). With the number of copies
        found. ``local`` and ``put_many(shared=False)`` in one pass, each text hashed once:
        for an in-process check, whose own work is microseconds, the cache's steps were a
        good part of its cost. A ``score`` that raises leaves nothing cached."""
        head, local, now_ms = self.keys.verdict_head(check, version), self._local, self._now_ms()
        keys = [head + text_digest(text) for text in texts]
        found = [local.get(key, now_ms) for key in keys]
        missing = [position for position, scores in enumerate(found) if scores is None]
        self._count(found)
        if missing:
            fresh = score(missing)
            expires_ms = self._expiry(now_ms)
            again = self._seen_once.again
            for position, scores in zip(missing, fresh, strict=True):
                found[position] = scores
                if again(keys[position]):  # kept from its text's second miss
                    self._local_put(keys[position], dict(scores), expires_ms)
        return found, len(found) - len(missing)  # type: ignore[return-value]  # all filled

    async def get_many(self, check: str, version: str, texts: Sequence[str]) -> list[Scores | None]:
        found, keys = self._looked_up(check, version, texts)
        missing = [i for i, scores in enumerate(found) if scores is None]
        if missing and self._shared:
            remote = await self._remote_get([keys[i] for i in missing])
            for position, scores in zip(missing, remote, strict=True):
                found[position] = scores
                if scores is not None:
                    self._local_put(keys[position], scores, self._expiry())
        self._count(found)
        return found

    def put_many(self, check: str, version: str, texts: Sequence[str],
                 scores: Sequence[Scores], *, shared: bool = True) -> None:
        store = (shared and self._shared and self.health.up
                 and len(self._writes) < MAX_BACKGROUND_WRITES)
        items = {}
        expires_ms = self._expiry()
        for text, text_scores in zip(texts, scores, strict=True):
            key = self.keys.verdict(check, version, text)
            if shared or self._seen_once.again(key):  # an in-process verdict: from its 2nd miss
                self._local_put(key, dict(text_scores), expires_ms)
            if store:  # serialised only for a shared store to write
                items[key] = orjson.dumps(text_scores).decode()
        if items:
            task = spawn(self._remote_put(items), name="verdict-cache-write")
            self._writes.add(task)
            task.add_done_callback(self._writes.discard)

    def _looked_up(self, check: str, version: str, texts: Sequence[str]
                   ) -> tuple[list[Scores | None], list[str]]:
        """The LRU's copies, and the texts' keys."""
        keys = [self.keys.verdict(check, version, text) for text in texts]
        local, now_ms = self._local, self._now_ms()
        return [local.get(key, now_ms) for key in keys], keys

    def _count(self, found: list[Scores | None]) -> None:
        hits = sum(scores is not None for scores in found)
        if hits:  # each inc takes the metric's lock
            self._hits.inc(hits)
        if hits < len(found):
            self._misses.inc(len(found) - hits)

    def _local_put(self, key: str, scores: Scores, expires_ms: int) -> None:
        if self._size > 0:  # 0: no local copies at all
            self._local.set(key, scores, expires_ms)

    def _expiry(self, now_ms: int | None = None) -> int:
        """When an entry written now (``now_ms``, read from the clock if not given) expires
        (epoch ms)."""
        return (self._now_ms() if now_ms is None else now_ms) + int(self._ttl_s * 1000)

    async def _remote_get(self, keys: list[str]) -> list[Scores | None]:
        if not self.health.up:
            self.health.skipped("cache_get")
            return [None] * len(keys)
        try:
            async with self.health.timed("cache_get"):
                values = await self.store.get_verdicts(keys, self._now_ms())
        except StoreError:
            return [None] * len(keys)
        return [_scores(value) for value in values]

    async def _remote_put(self, items: dict[str, str]) -> None:
        try:
            async with self.health.timed("cache_set"):
                await self.store.put_verdicts(items, int(self._ttl_s * 1000), self._now_ms())
        except StoreError:
            return

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    async def close(self) -> None:
        await asyncio.gather(*self._writes, return_exceptions=True)


class SeenOnce:
    """Which keys were seen before, approximately: one bit per key's hash in a bitmap of
    ``BITS`` bits (128 KB: it stays in the CPU's caches, where a set of the keys would be a
    table as cold as the LRU), cleared after ``capacity`` new keys. A key whose bit another
    key set is taken as seen (about 1 in 10 when the bitmap is fullest): the cost is one
    verdict kept a miss early. The admission filter of TinyLFU's "doorkeeper": a text sent
    once (a new prompt, a model's answer) never enters the LRU, a conversation's history
    (re-sent every turn) does from its second sighting."""

    BITS = 1 << 20
    CAPACITY = 100_000

    def __init__(self, capacity: int = CAPACITY) -> None:
        self._capacity = capacity
        self._bits = bytearray(self.BITS >> 3)
        self._left = capacity

    def again(self, key: str) -> bool:
        """True if ``key`` was seen before (since the last clearing); marks it seen."""
        slot = hash(key) & (self.BITS - 1)
        byte, bit = slot >> 3, 1 << (slot & 7)
        if self._bits[byte] & bit:
            return True
        if not self._left:
            self._bits, self._left = bytearray(self.BITS >> 3), self._capacity
        self._bits[byte] |= bit
        self._left -= 1
        return False


def _scores(value: str | None) -> Scores | None:
    if value is None:
        return None
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(parsed, dict) or not all(
            isinstance(score, (int, float)) for score in parsed.values()):
        return None
    return {str(label): float(score) for label, score in parsed.items()}
