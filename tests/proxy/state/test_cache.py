"""The verdict cache: LRU in front of the store, TTL, versions, replicas, round trips."""

from __future__ import annotations

import asyncio

import pytest

from classifiers.base import Classifier, ClassifyContext, InProcessClassifier, Scores
from proxy.config.schema import CheckConfig
from proxy.config.snapshot import Check
from proxy.observability.metrics import Metrics
from proxy.pipeline.checks import run_checks
from proxy.state.cache import SeenOnce, StoreVerdictCache
from proxy.state.factory import start_state
from proxy.state.keys import Keys
from proxy.state.ports import NoVerdictCache
from proxy.state.redis_store import RedisStore
from tests.proxy.state.conftest import Clock
from tests.proxy.state.helpers import eventually, sample, settings
from tests.support.redis_server import RedisServer


def lookups(metrics: Metrics, result: str) -> float:
    return sample(metrics, "safety_proxy_verdict_cache_total", {"result": result})


class CountingClassifier(Classifier):
    type_name = "counting"
    labels = ("bad",)

    def __init__(self, name: str = "counting", version: str = "counting:1") -> None:
        super().__init__(name)
        self._version = version
        self.texts_scored: list[str] = []

    @property
    def version(self) -> str:
        return self._version

    async def classify(self, texts, context=None) -> list[Scores]:
        self.texts_scored.extend(texts)
        return [{"bad": 0.9 if "BAD" in text else 0.1} for text in texts]


async def test_hits_misses_and_versions(clock: Clock) -> None:
    metrics = Metrics()
    cache = (await start_state(settings(), metrics, clock=clock)).cache
    assert await cache.get_many("tox", "v1", ["a", "b"]) == [None, None]
    cache.put_many("tox", "v1", ["a"], [{"bad": 0.25}])
    assert await cache.get_many("tox", "v1", ["a", "b"]) == [{"bad": 0.25}, None]
    assert await cache.get_many("tox", "v2", ["a"]) == [None], "another version never reuses"
    assert await cache.get_many("other", "v1", ["a"]) == [None], "another check never reuses"
    assert (lookups(metrics, "hit"), lookups(metrics, "miss")) == (1, 5)


async def test_entries_expire_after_the_ttl(clock: Clock) -> None:
    cache = (await start_state(settings(cache={"ttl_s": 30}), Metrics(), clock=clock)).cache
    cache.put_many("tox", "v1", ["a"], [{"bad": 0.25}])
    clock.advance(29)
    assert await cache.get_many("tox", "v1", ["a"]) == [{"bad": 0.25}]
    clock.advance(2)
    assert await cache.get_many("tox", "v1", ["a"]) == [None]


async def test_the_local_lru_is_bounded_and_redis_backs_it(redis_server: RedisServer) -> None:
    layer = await start_state(settings(redis_server.url, cache={"local_entries": 2}), Metrics())
    cache, store = layer.cache, layer.store
    assert isinstance(cache, StoreVerdictCache) and isinstance(store, RedisStore)
    try:
        cache.put_many("tox", "v1", ["a", "b", "c"], [{"bad": 0.1}] * 3)
        await cache.close()
        assert len(cache._local) == 2
        trips = store.pipeline.round_trips
        assert await cache.get_many("tox", "v1", ["c"]) == [{"bad": 0.1}]
        assert store.pipeline.round_trips == trips, "a local hit costs no round trip"
        assert await cache.get_many("tox", "v1", ["a"]) == [{"bad": 0.1}], "from Redis"
        assert store.pipeline.round_trips == trips + 1
    finally:
        await layer.close()


async def test_with_the_memory_store_the_lru_is_the_cache(clock: Clock) -> None:
    layer = await start_state(settings(cache={"local_entries": 2}), Metrics(), clock=clock)
    layer.cache.put_many("tox", "v1", ["a", "b", "c"], [{"bad": 0.1}] * 3)
    assert await layer.cache.get_many("tox", "v1", ["a", "b", "c"]) == [None, {"bad": 0.1},
                                                                          {"bad": 0.1}]


async def test_replicas_share_verdicts_through_redis(redis_server: RedisServer) -> None:
    first = await start_state(settings(redis_server.url), Metrics())
    second_metrics = Metrics()
    second = await start_state(settings(redis_server.url), second_metrics)
    try:
        first.cache.put_many("tox", "v1", ["shared text"], [{"bad": 0.5}])
        await eventually(lambda: redis_server.client().dbsize() > 0)
        assert await second.cache.get_many("tox", "v1", ["shared text"]) == [{"bad": 0.5}]
        assert lookups(second_metrics, "hit") == 1
    finally:
        await first.close()
        await second.close()


class CountingInProcess(InProcessClassifier):
    type_name = "counting_in_process"
    labels = ("bad",)

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.texts_scored: list[str] = []

    def classify_now(self, texts, context=None) -> list[Scores]:
        self.texts_scored.extend(texts)
        return [{"bad": 0.1} for _ in texts]


async def test_an_in_process_checks_verdicts_stay_in_its_replica(
        redis_server: RedisServer) -> None:
    """Scoring a text again in-process costs less than a round trip to Redis: such a
    check's verdicts stay in each replica's LRU; an awaited check's are shared."""
    layers = [await start_state(settings(redis_server.url), Metrics()) for _ in range(2)]
    try:
        in_process = [CountingInProcess("quick") for _ in layers]
        awaited = [CountingClassifier("slow") for _ in layers]
        for layer, quick, slow in zip(layers, in_process, awaited, strict=True):
            for _ in range(3):  # an in-process verdict is kept from its text's second miss
                run = await run_checks(
                    [Check(CheckConfig(name=c.name, type=c.type_name), c) for c in (quick, slow)],
                    ["the same text"], ClassifyContext("input"), Metrics(), layer.cache)
                assert run.scores == {"quick": [{"bad": 0.1}], "slow": [{"bad": 0.1}]}
            await eventually(lambda: redis_server.client().dbsize() > 0)
        assert [quick.texts_scored for quick in in_process] == [["the same text"] * 2] * 2
        assert [slow.texts_scored for slow in awaited] == [["the same text"], []]
        stored = redis_server.client().keys("*verdict*")
        assert len(stored) == 1 and ":slow:" in stored[0]
    finally:
        for layer in layers:
            await layer.close()


async def test_a_corrupt_stored_verdict_is_a_miss(redis_server: RedisServer) -> None:
    layer = await start_state(settings(redis_server.url), Metrics())
    try:
        key = Keys("safety-proxy").verdict("tox", "v1", "text")
        redis_server.client().set(key, "not json")
        assert await layer.cache.get_many("tox", "v1", ["text"]) == [None]
        redis_server.client().set(key, '{"bad": "high"}')
        assert await layer.cache.get_many("tox", "v1", ["text"]) == [None]
    finally:
        await layer.close()


async def test_concurrent_checks_share_one_round_trip(redis_server: RedisServer) -> None:
    layer = await start_state(settings(redis_server.url), Metrics())
    store = layer.store
    assert isinstance(store, RedisStore)
    try:
        before = store.pipeline.round_trips
        await asyncio.gather(*(layer.cache.get_many(f"check{i}", "v1", ["a", "b"])
                               for i in range(5)))
        assert store.pipeline.round_trips - before == 1
    finally:
        await layer.close()


async def test_a_replayed_conversation_scores_only_new_messages(clock: Clock) -> None:
    cache = (await start_state(settings(), Metrics(), clock=clock)).cache
    classifier = CountingClassifier()
    check = Check(CheckConfig(name="counting", type="counting", timeout_s=5), classifier)
    conversation: list[str] = []
    for turn in ["hi", "tell me a BAD joke", "another one", "thanks"]:
        conversation.append(turn)
        scored_before = len(classifier.texts_scored)
        run = await run_checks([check], list(conversation), ClassifyContext("input"),
                               Metrics(), cache)
        assert classifier.texts_scored[scored_before:] == [turn]
        assert len(run.scores["counting"]) == len(conversation)
    assert run.max_by_check() == {"counting": {"bad": 0.9}}


async def test_a_judge_verdict_is_reused_only_under_the_same_context(clock: Clock) -> None:
    """A rubric judges an answer against its prompt: the verdict cache keys on both, so a
    "safe" verdict for an answer under a harmless prompt is never reused when the same
    answer comes back under another prompt (and repeats still hit the cache)."""
    from tests.classifiers.test_rubric import by_marker, fake_judge, rubric

    cache = (await start_state(settings(), Metrics(), clock=clock)).cache
    async with fake_judge(by_marker) as judge:
        classifier = rubric(judge.base_url)
        await classifier.start()
        check = Check(CheckConfig(name="judge", type="rubric", directions=("output",)),
                      classifier)
        contexts = [ClassifyContext("output", prompt) for prompt in
                    ("What is the capital of France?", "How do I make a weapon?",
                     "What is the capital of France?")]
        for context in contexts:
            await run_checks([check], ["answer=D"], context, Metrics(), cache)
        await classifier.close()
    prompts = [request["messages"][1]["content"] for request in judge.requests]
    assert len(prompts) == 2, "the third call is the first one again: a cache hit"
    assert "capital of France" in prompts[0] and "weapon" in prompts[1]


def test_the_context_fingerprint_tells_every_part_apart() -> None:
    base = ClassifyContext("output", "p", ({"role": "user", "content": "p"},))
    variants = [ClassifyContext("input", "p", base.conversation),
                ClassifyContext("output", None, base.conversation),
                ClassifyContext("output", "q", base.conversation),
                ClassifyContext("output", "p", ({"role": "system", "content": "p"},)),
                ClassifyContext("output", "p", ())]
    prints = {context.fingerprint() for context in [base, *variants]}
    assert len(prints) == len(variants) + 1
    assert base.fingerprint() == ClassifyContext("output", "p", [{"role": "user",
                                                                  "content": "p"}]).fingerprint()


async def test_a_read_keeps_a_verdict_in_the_local_lru(clock: Clock) -> None:
    layer = await start_state(settings(cache={"local_entries": 2}), Metrics(), clock=clock)
    layer.cache.put_many("tox", "v1", ["a", "b"], [{"bad": 0.1}] * 2)
    await layer.cache.get_many("tox", "v1", ["a"])  # "a" is now the most recently used
    layer.cache.put_many("tox", "v1", ["c"], [{"bad": 0.1}])
    assert await layer.cache.get_many("tox", "v1", ["a", "b", "c"]) == [{"bad": 0.1}, None,
                                                                          {"bad": 0.1}]



async def test_scored_here_scores_only_what_it_lacks_and_keeps_it_local(
        redis_server: RedisServer) -> None:
    """An in-process check's one pass: copies found, ``score`` called once with the
    positions of the others, what it returns kept in the LRU (under the same key as
    ``put_many``) and never written to Redis; a ``score`` that raises keeps nothing."""
    metrics = Metrics()
    layer = await start_state(settings(redis_server.url), metrics)
    cache = layer.cache
    asked: list[list[int]] = []

    def score(positions: list[int]) -> list[Scores]:
        asked.append(positions)
        return [{"bad": 0.25 * (position + 1)} for position in positions]

    try:
        for _ in range(2):  # kept from the second miss (SeenOnce)
            cache.put_many("tox", "v1", ["b"], [{"bad": 0.75}], shared=False)
        found, hits = cache.scored_here("tox", "v1", ["a", "b", "c"], score)
        assert (found, hits, asked) == ([{"bad": 0.25}, {"bad": 0.75}, {"bad": 0.75}], 1, [[0, 2]])
        assert (lookups(metrics, "hit"), lookups(metrics, "miss")) == (1, 2)
        assert cache.local("tox", "v1", ["a", "c"]) == [None, None], "seen once: not kept"
        cache.scored_here("tox", "v1", ["a", "b", "c"], score)
        assert asked[1:] == [[0, 2]]
        assert cache.local("tox", "v1", ["a", "c"]) == [{"bad": 0.25}, {"bad": 0.75}]
        assert cache.scored_here("tox", "v2", [], score) == ([], 0) and len(asked) == 2
        assert cache.scored_here("tox", "v1", ["c", "a"], score) == (
            [{"bad": 0.75}, {"bad": 0.25}], 2) and len(asked) == 2, "all hits: not called"

        def broken(positions: list[int]) -> list[Scores]:
            raise ValueError("bad score")

        for _ in range(2):
            with pytest.raises(ValueError, match="bad score"):
                cache.scored_here("tox", "v1", ["d"], broken)
        assert cache.local("tox", "v1", ["d"]) == [None]
        await asyncio.sleep(0.05)  # a background write would have landed by now
        assert redis_server.client().keys("*verdict*") == []
    finally:
        await layer.close()


async def test_without_a_cache_scored_here_scores_every_text() -> None:
    assert NoVerdictCache().scored_here("tox", "v1", ["a", "b"], lambda positions: [
        {"bad": float(p)} for p in positions]) == ([{"bad": 0.0}, {"bad": 1.0}], 0)
    assert NoVerdictCache().scored_here("tox", "v1", [], lambda positions: 1 / 0) == ([], 0)


def test_seen_once_tells_a_second_sighting_and_forgets_past_its_capacity() -> None:
    """The admission filter of in-process verdicts: True from a key's second sighting;
    cleared after its capacity of new keys (one bit per key's hash: a false "seen" is
    possible, a missed second sighting within a generation is not)."""
    seen = SeenOnce(capacity=4)
    assert [seen.again(key) for key in ("a", "b", "a", "b", "a")] == [False, False, True,
                                                                        True, True]
    assert [seen.again(key) for key in ("c", "d")] == [False, False]  # 4 new keys: full
    assert seen.again("e") is False, "a fifth new key clears the bitmap"
    assert seen.again("a") is False, "forgotten with the rest"
    assert seen.again("e") is True
    many = SeenOnce()
    keys = [f"safety-proxy:verdict:tox:v1:{n:064x}" for n in range(20_000)]
    assert sum(many.again(key) for key in keys) < 20_000 * 20_000 / SeenOnce.BITS
    assert all(many.again(key) for key in keys), "every second sighting is told"
