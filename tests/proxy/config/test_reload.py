"""Hot reload: a changed threshold applies to the next request, a bad file keeps the old one."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import weakref

import aiohttp
import yaml

from proxy.resources import READINESS
from tests.support.scripted import ScriptedClassifier

MEH = {"model": "m", "messages": [{"role": "user", "content": "a MEHWORD prompt"}]}


async def decision_for(base: str) -> str:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/v1/chat/completions", json=MEH) as response:
            return response.headers["x-safety-decision"]


async def metric_value(base: str, name: str) -> float:
    async with aiohttp.ClientSession() as session, session.get(f"{base}/metrics") as response:
        text = await response.text()
    return float(next(line for line in text.splitlines() if line.startswith(name)).split()[-1])


async def wait_for(condition, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def set_meh_block(path, block: float) -> None:
    config = yaml.safe_load(path.read_text())
    config["policy"]["input"]["script"]["meh"] = {"flag": 0.5, "block": block}
    path.write_text(yaml.safe_dump(config))


async def test_changed_threshold_applies_without_restart(start_proxy, tmp_path):
    base, _ = await start_proxy(reload={"watch": True, "interval_s": 0.05})
    path = tmp_path / "proxy.yaml"
    assert await decision_for(base) == "flag"
    set_meh_block(path, 0.55)

    async def blocked() -> bool:
        return await decision_for(base) == "block"
    await wait_for(blocked)
    assert await metric_value(base, 'safety_proxy_config_reloads_total{result="success"}') == 1


async def test_bad_file_keeps_running_config_and_counts_failure(start_proxy, tmp_path):
    base, _ = await start_proxy(reload={"watch": True, "interval_s": 0.05})
    path = tmp_path / "proxy.yaml"
    good = path.read_text()
    path.write_text(good.replace("block: 0.9", "block: 7"))

    async def failed() -> bool:
        name = 'safety_proxy_config_reloads_total{result="failure"}'
        return await metric_value(base, name) >= 1
    await wait_for(failed)
    assert await decision_for(base) == "flag"  # still the old thresholds
    assert await metric_value(base, "safety_proxy_config_last_reload_successful") == 0
    async with aiohttp.ClientSession() as session, session.get(f"{base}/readyz") as response:
        assert response.status == 200


async def test_a_bad_check_option_is_refused_and_the_running_config_kept(start_proxy, tmp_path):
    """An options typo is a load error like any other: the reload fails, nothing is built,
    and the next good file applies."""
    base, app = await start_proxy(reload={"watch": True, "interval_s": 0.05})
    path = tmp_path / "proxy.yaml"
    config = yaml.safe_load(path.read_text())
    config["checks"].append({"name": "refusal", "type": "refusal", "options": {"typo": 1}})
    config["policy"]["input"]["script"]["meh"] = {"flag": 0.5, "block": 0.55}
    path.write_text(yaml.safe_dump(config))

    async def failed() -> bool:
        name = 'safety_proxy_config_reloads_total{result="failure"}'
        return await metric_value(base, name) >= 1
    await wait_for(failed)
    assert await decision_for(base) == "flag"  # the old thresholds, the old checks
    assert await metric_value(base, "safety_proxy_config_last_reload_successful") == 0
    config["checks"][-1]["options"] = {}
    path.write_text(yaml.safe_dump(config))

    async def blocked() -> bool:
        return await decision_for(base) == "block"
    await wait_for(blocked)


async def test_sighup_reloads_and_retired_classifiers_are_closed(start_proxy, tmp_path):
    base, _ = await start_proxy(reload={"watch": False})
    path = tmp_path / "proxy.yaml"
    before = list(ScriptedClassifier.instances)
    set_meh_block(path, 0.55)
    os.kill(os.getpid(), signal.SIGHUP)

    async def blocked() -> bool:
        return await decision_for(base) == "block"
    await wait_for(blocked)
    await asyncio.sleep(0.05)
    assert before[-1].closed  # the old snapshot's classifier, once idle
    assert not ScriptedClassifier.instances[-1].closed


async def test_abuse_settings_follow_a_reload(start_proxy, tmp_path):
    base, app = await start_proxy(reload={"watch": True, "interval_s": 0.05})
    from proxy.resources import STATE_LAYER

    gate = app[STATE_LAYER].gate
    assert gate.abuse.throttle_at != 2
    config = yaml.safe_load((tmp_path / "proxy.yaml").read_text())
    config["abuse"] = {"throttle_at": 2, "ban_at": 4}
    (tmp_path / "proxy.yaml").write_text(yaml.safe_dump(config))

    async def updated() -> bool:
        return gate.abuse.throttle_at == 2
    await wait_for(updated)


async def test_the_loaded_heap_is_frozen_and_a_retired_snapshot_still_freed(start_proxy, tmp_path):
    """At start the loaded checks are frozen out of the cycle collector's walks
    (classifiers/heap.py); a snapshot frozen with them and retired by a reload is still
    freed once closed, even in a reference cycle (which only a collection that looks at
    frozen objects can free)."""
    base, app = await start_proxy(reload={"watch": False})
    assert gc.get_freeze_count() > 0
    closed = app[READINESS].holder.current._closed  # an object of the snapshot, frozen
    closed.itself = closed  # a cycle: refcounts alone never free it
    gone = weakref.ref(closed)
    del closed
    set_meh_block(tmp_path / "proxy.yaml", 0.55)
    os.kill(os.getpid(), signal.SIGHUP)

    async def blocked() -> bool:
        return await decision_for(base) == "block"
    await wait_for(blocked)
    gc.collect()  # an ordinary collection passes over frozen objects

    async def freed() -> bool:
        return gone() is None
    await wait_for(freed)
    assert gc.get_freeze_count() > 0  # the running snapshot frozen again
