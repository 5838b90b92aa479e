"""End to end with the whole proxy: replicas sharing one Redis, Redis killed during traffic,
a conversation replayed turn by turn, and the API key kept out of everything stored.

Replicas are real ``safety-proxy serve`` processes (with the scripted test classifier
registered); the fake upstream runs in the test's loop on loopback.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from proxy.pipeline.identify import Identifier
from tests.conftest import proxy_config, write_config
from tests.proxy.state.helpers import SECRET, eventually
from tests.support.ports import free_port
from tests.support.redis_server import RedisServer
from tests.support.scripted import ScriptedClassifier

API_KEY = "sk-e2e-VERY-SECRET-key-0042"
OTHER_KEY = "sk-e2e-innocent-key-0077"
ADMIN_TOKEN = "e2e-admin-token"
ROOT = Path(__file__).resolve().parents[3]
LAUNCH = "import sys, tests.support.scripted; from proxy.cli import main; sys.exit(main())"


def state_sections(redis_url: str, **abuse: Any) -> dict[str, Any]:
    return {
        "store": {"url": redis_url, "reconnect_min_s": 0.05, "reconnect_max_s": 0.2,
                  "timeout_s": 2.0},  # generous: CI machines are loaded; kills fail fast
        "identity": {"secret": SECRET},
        "abuse": {"weights": {"flag": 1, "block": 1}, "window_s": 60, "throttle_at": 2,
                  "throttle_s": 2, "ban_at": 3, "ban_s": 60, **abuse},
        "events": {"text": "full"},
        "admin": {"token": ADMIN_TOKEN, "port": None},  # /admin on the client port
        "logging": {"level": "info", "format": "json", "text": "full"},
    }


def chat(text: str, key: str = API_KEY) -> dict[str, Any]:
    return {"json": {"model": "m", "messages": [{"role": "user", "content": text}]},
            "headers": {"Authorization": f"Bearer {key}"}}


async def post(session: aiohttp.ClientSession, base: str, text: str,
               key: str = API_KEY) -> tuple[int, dict[str, Any], dict[str, str]]:
    async with session.post(f"{base}/v1/chat/completions", **chat(text, key)) as response:
        return response.status, await response.json(), dict(response.headers)


async def start_replica(config: Path, log: Path) -> tuple[str, asyncio.subprocess.Process]:
    port = free_port()
    with log.open("wb") as output:  # the child keeps its own copy of the descriptor
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", LAUNCH, "serve", "--config", str(config), "--port",
            str(port), cwd=ROOT, stdout=output, stderr=asyncio.subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    async def ready() -> bool:
        if process.returncode is not None:
            raise AssertionError(f"replica exited:\n{log.read_text()}")
        try:
            async with aiohttp.ClientSession() as session, session.get(f"{base}/readyz") as r:
                return r.status == 200
        except aiohttp.ClientError:
            return False

    await eventually(ready, timeout=30)
    return base, process


@pytest.fixture
async def replicas(tmp_path: Path, serve_app, fake_upstream
                   ) -> AsyncIterator[Callable[[dict[str, Any], int], Awaitable[list[str]]]]:
    processes: list[asyncio.subprocess.Process] = []

    async def start(sections: dict[str, Any], count: int) -> list[str]:
        upstream = await serve_app(fake_upstream.app())
        config = write_config(tmp_path / "replica.yaml", proxy_config(upstream, **sections))
        bases = []
        for number in range(count):
            base, process = await start_replica(config, tmp_path / f"replica{number}.log")
            bases.append(base)
            processes.append(process)
        return bases

    yield start
    for process in processes:
        if process.returncode is None:
            process.terminate()
            await process.wait()


async def test_strikes_on_one_replica_throttle_and_ban_on_the_other(
        replicas, redis_server: RedisServer, tmp_path: Path) -> None:
    first, second = await replicas(state_sections(redis_server.url), 2)
    async with aiohttp.ClientSession() as session:
        for _ in range(2):
            status, body, _ = await post(session, first, "you BADWORD")
            assert (status, body["error"]["code"]) == (400, "content_filter")

        async def throttled_on_second() -> bool:
            return (await post(session, second, "hello"))[0] == 429
        await eventually(throttled_on_second)
        status, body, headers = await post(session, second, "hello")
        assert body["error"]["code"] == "principal_throttled" and int(headers["Retry-After"]) >= 1
        # the SDKs would honour Retry-After and retry silently for the whole throttle
        assert headers["x-should-retry"] == "false"
        assert headers["x-safety-decision"] == "refused"
        assert (await post(session, second, "hello", OTHER_KEY))[0] == 200, "others unaffected"

        async def served_on_first() -> bool:
            return (await post(session, first, "hello"))[0] == 200
        await eventually(served_on_first, timeout=8)  # the 2 s throttle ended
        assert (await post(session, first, "BADWORD again"))[0] == 400  # strike 3: ban

        async def banned_on_second() -> bool:
            return (await post(session, second, "hello"))[0] == 403
        await eventually(banned_on_second)
        status, body, headers = await post(session, second, "hello")
        assert body["error"]["code"] == "principal_banned"
        assert 50 <= int(headers["Retry-After"]) <= 60

        principal = Identifier(SECRET.encode()).hash("api_key", API_KEY)
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        async with session.get(f"{first}/admin/bans", headers=admin) as response:
            assert [ban["principal"] for ban in (await response.json())["bans"]] == [principal]
        async with session.get(f"{second}/admin/events", headers=admin) as response:
            events = await response.text()
        metrics = {}
        for name, base in (("first", first), ("second", second)):
            async with session.get(f"{base}/metrics") as response:
                metrics[name] = await response.text()
        async with session.delete(f"{second}/admin/bans/{principal}", headers=admin) as response:
            assert (await response.json())["unbanned"] is True
        await eventually(served_on_first)

    assert events.count(principal) == 3 and '"escalation":"ban"' in events.replace(" ", "")
    assert "safety_proxy_bans_total 1.0" in metrics["first"], "the escalation happened there"
    assert "safety_proxy_banned_principals 1.0" in metrics["second"]
    assert "safety_proxy_banned_requests_total 0.0" not in metrics["second"]
    stored = repr(redis_server.dump())
    logs = "".join(path.read_text() for path in tmp_path.glob("replica*.log"))
    assert principal in stored and principal in logs
    for where, text in (("redis", stored), ("logs", logs), ("events", events),
                        ("metrics", repr(metrics))):
        assert API_KEY not in text and "VERY-SECRET" not in text, f"API key found in {where}"


async def test_redis_killed_during_traffic_fails_no_request(
        start_proxy, redis_server: RedisServer) -> None:
    base, _ = await start_proxy(**state_sections(redis_server.url))
    statuses: list[int] = []
    stop = asyncio.Event()

    async def traffic(session: aiohttp.ClientSession, key: str) -> None:
        while not stop.is_set():
            statuses.append((await post(session, base, "a clean question", key))[0])

    async with aiohttp.ClientSession() as session:  # one key each: 4 at once is over the
        # in-flight slots throttle_at 2 leaves one key (see test_race_free_admission.py)
        clients = [asyncio.create_task(traffic(session, f"sk-e2e-client-{n}"))
                   for n in range(4)]
        await asyncio.sleep(0.3)
        redis_server.kill()
        await asyncio.sleep(0.5)
        async with session.get(f"{base}/readyz") as response:
            readiness = (response.status, await response.json())
        redis_server.start()
        await asyncio.sleep(0.5)
        stop.set()
        await asyncio.gather(*clients)
        async with session.get(f"{base}/metrics") as response:
            metrics = await response.text()
        assert readiness[0] == 200 and readiness[1]["status"] == "degraded", readiness
        assert len(statuses) > 20 and set(statuses) == {200}, "fail_open: nothing failed"
        errors = [line for line in metrics.splitlines()
                  if line.startswith('safety_proxy_store_errors_total{operation="admission"}')]
        assert errors and float(errors[0].split()[-1]) > 0
        for _ in range(2):  # checks resumed: two blocks throttle the key
            assert (await post(session, base, "BADWORD"))[0] == 400

        async def throttled() -> bool:
            return (await post(session, base, "hello"))[0] == 429
        await eventually(throttled)


@pytest.mark.parametrize("cache_enabled", [True, False])
async def test_a_replayed_conversation_scores_only_new_messages(start_proxy, cache_enabled):
    base, _ = await start_proxy(cache={"enabled": cache_enabled})
    classifier = ScriptedClassifier.instances[-1]
    messages: list[dict[str, str]] = []
    scored_per_turn = []
    async with aiohttp.ClientSession() as session:
        for turn in range(1, 5):
            messages.append({"role": "user", "content": f"question number {turn} on plants"})
            before = len(classifier.texts_seen)
            async with session.post(f"{base}/v1/chat/completions",
                                    json={"model": "m", "messages": messages}) as response:
                answer = (await response.json())["choices"][0]["message"]["content"]
            scored_per_turn.append(classifier.texts_seen[before:])
            messages.append({"role": "assistant", "content": answer})
    # Each turn adds a question and, once answered, a seam (the short answer read joined with
    # the questions around it, views.seams): with the cache nothing is scored twice.
    assert scored_per_turn[0] == ["question number 1 on plants", "Hello there!"]
    seen: set[str] = set()
    for turn, scored in enumerate(scored_per_turn, start=1):
        assert f"question number {turn} on plants" in scored
        if cache_enabled:
            assert not seen & set(scored), "only new texts are scored"
        else:  # the whole conversation again each turn
            assert seen <= set(scored)
        seen |= set(scored)
