"""Redis Cluster: a principal's keys share one slot, so every script runs on one node; the
review stream and the bans index share one global slot; principals spread over every node;
restarts and a node down are survived as the store promises.

Runs against a real three-node cluster (conftest: ``redis_cluster``, or a test's own
``RedisCluster`` when it stops nodes). The contract suite (test_store_contract.py) runs on
the cluster too: it proves no script touches two slots (a CROSSSLOT would fail it).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from pydantic import ValidationError
from redis.crc import key_slot

from proxy.config.state_settings import StoreConfig
from proxy.observability.metrics import Metrics
from proxy.state.base import Escalation, StoreError
from proxy.state.factory import build_store, start_state
from proxy.state.keys import Keys
from proxy.state.ports import Ticket
from proxy.state.redis_store import RedisStore
from tests.proxy.state.helpers import outcome, settings
from tests.proxy.state.test_store_contract import ALICE, BOB, POLICY
from tests.support.redis_server import RedisCluster, RedisServer

T0 = int(time.time() * 1000)
PRINCIPALS = [f"{n:02x}" * 32 for n in range(24)]
SLOTS = Escalation(window_ms=60_000, throttle_at=100, throttle_ms=1_000, ban_at=200,
                   ban_ms=60_000, max_strikes=100, slot_weight=1.0, slot_ttl_ms=60_000)


def slot(key: str) -> int:
    return key_slot(key.encode())


def holder(cluster: RedisCluster, key: str) -> RedisServer:
    """The node that stores ``key`` (it exists on exactly one; SCAN lists a node's own
    keys, where EXISTS would answer MOVED)."""
    holders = [server for server in cluster.servers
               if key in set(server.client().scan_iter(count=1000))]
    assert len(holders) == 1, key
    return holders[0]


def cluster_store(cluster: RedisCluster) -> RedisStore:
    return RedisStore(cluster.url, Keys("t"), cluster=True, timeout_s=10)


def test_one_principal_one_slot_and_one_global_slot() -> None:
    keys = Keys("t")
    for principal in (ALICE, BOB, *PRINCIPALS):
        own = {slot(key) for key in (keys.strikes(principal), keys.throttle(principal),
                                     keys.ban(principal), keys.in_flight(principal))}
        assert len(own) == 1, "RESERVE, RECORD, CHARGE and UNBAN take these together"
    assert slot(keys.bans) == slot(keys.events)
    assert slot(keys.strikes(ALICE)) != slot(keys.strikes(BOB))
    assert len({slot(keys.verdict("tox", "v1", str(n))) for n in range(50)}) > 40, "spread"


async def test_principals_spread_over_every_node_and_no_script_crosses_slots(
        redis_cluster: RedisCluster) -> None:
    store = cluster_store(redis_cluster)
    try:
        await store.ping()
        for n, principal in enumerate(PRINCIPALS):
            ticket = Ticket(principal, f"slot-{n}")
            assert (await store.reserve(principal, ticket.id, SLOTS, T0)).reserved
            await store.record(principal, 1.0, {"request_id": str(n)}, SLOTS, 100, T0, ticket)
            pair = [(principal, SLOTS), (PRINCIPALS[n - 1], SLOTS)]  # two slots, often nodes
            assert (await store.charge(pair, 1.0, T0)).admitted
            assert await store.in_flight(principal, T0) == 0
        keys = store.keys
        nodes = {holder(redis_cluster, keys.strikes(p)).port for p in PRINCIPALS}
        assert len(nodes) == 3, "every node holds principals"
        both = await store.charge([(ALICE, POLICY), (BOB, POLICY)], 1.0, T0)
        assert both.admitted and [r.strikes for r in both.results] == [1.0, 1.0]
        assert holder(redis_cluster, keys.strikes(ALICE)).port != holder(
            redis_cluster, keys.strikes(BOB)).port, "the contract's charges cross nodes"
        assert [e.fields["request_id"] for e in await store.events(None, 100)] == [
            str(n) for n in range(24)]
        assert [(await store.principal(p, 60_000, T0)).strikes for p in PRINCIPALS] == [3.0] * 24
        assert await store.unban(PRINCIPALS[0]) is False
    finally:
        await store.close()


async def test_verdicts_spread_over_nodes_in_one_round_trip(redis_cluster: RedisCluster) -> None:
    store = cluster_store(redis_cluster)
    verdicts = {store.keys.verdict("tox", "v1", str(n)): f'{{"bad": 0.{n}}}' for n in range(30)}
    try:
        trips = store.pipeline.round_trips
        await store.put_verdicts(verdicts, 60_000, T0)
        assert await store.get_verdicts([*verdicts, "t:verdict:none"], T0) == [
            *verdicts.values(), None]
        assert store.pipeline.round_trips == trips + 2, "one round trip per batch"
        assert len({holder(redis_cluster, key).port for key in verdicts}) == 3
    finally:
        await store.close()


async def test_a_node_restart_fails_no_operation(tmp_path: Path) -> None:
    """Every pooled socket to the restarted node is dead; the commands that meet one are
    resent once, after the slot map is refreshed, and succeed."""
    cluster = RedisCluster(tmp_path)
    cluster.start()
    store = cluster_store(cluster)
    try:
        for principal in PRINCIPALS:
            await store.record(principal, 1.0, None, POLICY, 100, T0)
        restarted = holder(cluster, store.keys.strikes(PRINCIPALS[0]))
        restarted.restart()
        cluster.wait_ok()
        standings = [await store.standing(principal, T0) for principal in PRINCIPALS]
        assert len(standings) == len(PRINCIPALS)  # no StoreError
        assert store.pipeline.resends >= 1, "the dead sockets were met, and resent past"
        await store.ping()
    finally:
        await store.close()
        cluster.kill()


async def test_a_strike_stands_and_its_event_waits_while_the_global_node_is_down(
        tmp_path: Path) -> None:
    """The event is written after the strike; it cannot fail the record (a replay would
    strike twice), so it waits in the backlog and goes out with the next one."""
    cluster = RedisCluster(tmp_path)
    cluster.start()
    store = cluster_store(cluster)
    try:
        await store.record(None, 0, {"request_id": "first"}, POLICY, 100, T0)
        global_node = holder(cluster, store.keys.events)
        principal = next(p for p in PRINCIPALS if slot(store.keys.strikes(p)) not in
                         _slots_of(cluster, global_node))
        global_node.kill()
        result = await store.record(principal, 1.0, {"request_id": "second"}, POLICY, 100, T0)
        assert (result.strikes, len(store.backlog)) == (1.0, 1)
        global_node.start()
        cluster.wait_ok()
        await store.record(principal, 1.0, {"request_id": "third"}, POLICY, 100, T0 + 1)
        assert not store.backlog
        events = await store.events(None, 10)
        # "first" died with the node (no persistence here); the backlog's event did not
        assert [e.fields["request_id"] for e in events] == ["second", "third"]
        assert [e.fields["strikes"] for e in events] == ["1", "2"], "no strike twice"
    finally:
        await store.close()
        cluster.kill()


def _slots_of(cluster: RedisCluster, server: RedisServer) -> set[int]:
    """The hash slots ``server`` serves (CLUSTER SLOTS, asked of another node)."""
    other = next(s for s in cluster.servers if s is not server)
    ranges = other.client().execute_command("CLUSTER", "SLOTS")
    return {n for start, end, primary, *_ in ranges if int(primary[1]) == server.port
            for n in range(int(start), int(end) + 1)}


@pytest.mark.parametrize(("url", "message"), [
    ("memory", "redis:// or rediss://"),
    ("unix:///run/redis.sock", "redis:// or rediss://"),
    ("redis://127.0.0.1:7000/2", "database 0"),
])
def test_a_cluster_needs_a_tcp_url_and_database_0(url: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        StoreConfig(url=url, cluster=True)


def test_a_cluster_url_from_the_environment_is_checked_too(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SP_TEST_CLUSTER_URL", "redis://127.0.0.1:7000/3")
    with pytest.raises(ValueError, match="database 0"):
        build_store(StoreConfig(url_env="SP_TEST_CLUSTER_URL", cluster=True))


async def test_build_store_makes_a_cluster_store(redis_cluster: RedisCluster) -> None:
    store = build_store(StoreConfig(url=redis_cluster.url, cluster=True))
    assert isinstance(store, RedisStore) and store.cluster and store.kind == "redis"
    try:
        await store.ping()
        await store.record(ALICE, 1.0, None, POLICY, 100, T0)
        assert (await store.principal(ALICE, POLICY.window_ms, T0)).strikes == 1.0
    finally:
        await store.close()


async def test_every_cluster_key_is_tagged_and_has_a_ttl_or_a_bound(
        redis_cluster: RedisCluster) -> None:
    """As test_identify checks on one Redis: the same layout, spread over the nodes."""
    layer = await start_state(settings(redis_cluster.url, store={"cluster": True},
                                       abuse={"throttle_at": 2, "ban_at": 4}), Metrics())
    try:
        for principal in PRINCIPALS[:6]:
            for _ in range(4):
                await layer.gate.record(outcome(principal, "flag"))
        layer.cache.put_many("tox", "v1", ["x", "y", "z"], [{"bad": 0.0}] * 3)
        await layer.flush()
        for server in redis_cluster.servers:
            client = server.client()
            for key in client.scan_iter(count=1000):
                kind, tag = key.split(":")[1], key.rpartition(":")[2]
                assert kind in {"strikes", "ban", "bans", "events", "verdict"}, key
                if kind in {"bans", "events"}:
                    assert tag == "{global}"
                elif kind != "verdict":
                    assert tag.startswith("{") and tag.endswith("}"), key
                assert client.type(key) == "stream" or client.pttl(key) > 0, key
    finally:
        await layer.close()


async def test_a_cluster_down_at_start_is_a_store_error(tmp_path: Path) -> None:
    """No node answers: the slot map cannot be read, and every operation says so."""
    nowhere = RedisServer(tmp_path, cluster=True)  # a free port, never started
    store = RedisStore(nowhere.url, Keys("t"), cluster=True, timeout_s=1)
    try:
        with pytest.raises(StoreError):
            await store.ping()
        with pytest.raises(StoreError):
            await store.standing(ALICE, T0)
    finally:
        await store.close()
