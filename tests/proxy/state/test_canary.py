"""Canary: secrets sent every way a client can send them never reach a log line, the store,
an exported event, /metrics or an admin API answer.

A real ``safety-proxy serve`` (logging at debug, texts in full in logs and events: the worst
case) with a Redis store, a ``rules`` check redacting secrets and emails on input, and its
admin API on its own port. Random canaries (an OpenAI-style key, an AWS access key id, an
email) go in the credential headers, a custom header, request lines the parser refuses, the
messages, the ``user`` field, a blocked prompt and a wrong admin token; then every place the
proxy writes to is searched for them.
"""

from __future__ import annotations

import asyncio
import secrets
import string
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import proxy_config, write_config
from tests.proxy.state.helpers import SECRET, eventually
from tests.proxy.state.test_abuse_e2e import LAUNCH, ROOT, start_replica
from tests.support.ports import free_port
from tests.support.raw_http import raw_request
from tests.support.redis_server import RedisServer

ADMIN_TOKEN = "canary-admin-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def canaries() -> dict[str, str]:
    upper = string.ascii_uppercase + string.digits
    return {"openai_key": f"sk-proj-{secrets.token_hex(20)}",
            "aws_key_id": "AKIA" + "".join(secrets.choice(upper) for _ in range(16)),
            "email": f"canary.{secrets.token_hex(6)}@example.com"}


def needles(canary: dict[str, str]) -> list[str]:
    """What to search for: each canary, and its random part alone (a partial leak)."""
    return [*canary.values(), canary["openai_key"][8:28], canary["aws_key_id"][4:],
            canary["email"].split("@")[0]]


def canary_config(upstream: str, redis_url: str, admin_port: int) -> dict[str, Any]:
    rules = {"name": "pii", "type": "rules", "directions": ["input"],
             "options": {"detectors": ["email", "secret"]}}
    script = proxy_config(upstream)["checks"][0]  # BADWORD blocks: an event is written
    block = {"bad": {"flag": 0.5, "block": 0.9}, "meh": {"flag": 0.5, "block": 0.9}}
    return proxy_config(
        upstream, checks=[rules, script],
        policy={"input": {"pii": {"email": {"redact": 0.5}, "secret": {"redact": 0.5}},
                          "script": block},
                "output": {"script": block}, "toxic_labels": ["script.bad"],
                "refusal_label": None},
        store={"url": redis_url, "timeout_s": 2.0}, identity={"secret": SECRET},
        events={"text": "full"}, logging={"level": "debug", "format": "json", "text": "full"},
        admin={"token": ADMIN_TOKEN, "port": admin_port})


def chat(content: str, canary: dict[str, str]) -> dict[str, Any]:
    return {"model": "m", "user": canary["email"],
            "messages": [{"role": "user", "content": content}]}


async def send_canaries(base: str, canary: dict[str, str]) -> list[int]:
    """Every way in; returns the statuses (the test checks they were served or refused)."""
    key, aws, email = canary["openai_key"], canary["aws_key_id"], canary["email"]
    headers = {"Authorization": f"Bearer {key}", "x-api-key": key, "api-key": key,
               "x-customer-note": f"{email} {aws}"}
    prose = f"my key is {key}, my AWS id {aws}, write to {email}"
    statuses = []
    async with aiohttp.ClientSession() as session:
        for body, sent in ((chat(prose, canary), headers),  # redacted, then served
                           (chat(f"BADWORD {prose}", canary), headers),  # blocked
                           (chat("hi", canary), {"Authorization": f"Bearer {key}",
                                                 "x-api-key": aws})):  # two credentials
            async with session.post(f"{base}/v1/chat/completions", json=body,
                                    headers=sent) as response:
                statuses.append(response.status)
                await response.read()
    for refused in ({"Authorization": f"Bearer {key}\x01{aws}"},  # a control character
                    {f"Authorization Bearer {key}": email},  # a header name with spaces
                    {"Authorization": f"Bearer {key} " + "x" * 9000}):  # a line too long
        statuses.append((await raw_request(base, "POST", "/v1/chat/completions",
                                           b"{}", refused))[0])
    return statuses


async def admin_answers(admin_url: str, canary: dict[str, str]) -> tuple[str, list[int]]:
    """Every admin API answer (with a wrong token first: the canary key), as text."""
    texts, statuses = [], []
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{admin_url}/admin/bans", headers={
                "Authorization": f"Bearer {canary['openai_key']}"}) as response:
            statuses.append(response.status)
            texts.append(await response.text())
        async with session.get(f"{admin_url}/admin/events", headers=ADMIN) as response:
            events = (await response.json())["events"]
            texts.append(repr(events))
        for path in ["/admin/bans", *{f"/admin/principals/{e['principal']}" for e in events
                                     if e.get("principal")}]:
            async with session.get(f"{admin_url}{path}", headers=ADMIN) as response:
                statuses.append(response.status)
                texts.append(await response.text())
    return "\n".join(texts), statuses


async def admin_events(admin_url: str) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.get(
            f"{admin_url}/admin/events", headers=ADMIN) as response:
        events: list[dict[str, Any]] = (await response.json())["events"]
        return events


async def events_export(config: Path) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", LAUNCH, "events", "export", "--config", str(config), cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await process.communicate()
    assert process.returncode == 0, output.decode()
    return output.decode()


async def metrics_text(base: str) -> str:
    async with aiohttp.ClientSession() as session, session.get(f"{base}/metrics") as response:
        return await response.text()


@pytest.fixture
async def canary_proxy(tmp_path: Path, serve_app, fake_upstream, redis_server: RedisServer):
    """(client URL, admin URL, config path, log path, process) of a real proxy process."""
    upstream = await serve_app(fake_upstream.app())
    admin_port = free_port()
    config = write_config(tmp_path / "canary.yaml",
                          canary_config(upstream, redis_server.url, admin_port))
    log = tmp_path / "canary.log"
    base, process = await start_replica(config, log)
    yield base, f"http://127.0.0.1:{admin_port}", config, log, process
    if process.returncode is None:
        process.terminate()
        await process.wait()


async def test_no_canary_reaches_logs_store_events_metrics_or_admin_answers(
        canary_proxy, redis_server: RedisServer, fake_upstream) -> None:
    base, admin_url, config, log, process = canary_proxy
    canary = canaries()
    statuses = await send_canaries(base, canary)
    # served (redacted), blocked, two credentials, then the three the parser refused
    assert statuses == [200, 400, 400, 400, 400, 400]

    async def both_events_stored() -> bool:
        return len(await admin_events(admin_url)) >= 2
    await eventually(both_events_stored)
    admin_text, admin_statuses = await admin_answers(admin_url, canary)
    assert admin_statuses[0] == 401 and set(admin_statuses[1:]) == {200}
    places = {"redis": repr(redis_server.dump()), "events export": await events_export(config),
              "metrics": await metrics_text(base), "admin API": admin_text}
    process.terminate()
    await process.wait()
    places["logs"] = log.read_text(errors="replace")

    redacted = fake_upstream.requests[0]["messages"][0]["content"]
    assert "[REDACTED:secret]" in redacted and "[REDACTED:email]" in redacted, redacted
    assert "[REDACTED:" in places["logs"] and "[REDACTED:" in places["events export"], (
        "the logged and stored texts are the redacted ones")
    assert '"admin_auth_failed"' in places["logs"] and '"bad_http_request"' in places["logs"]
    leaks = {(where, needle) for where, text in places.items() for needle in needles(canary)
             if needle in text}
    assert not leaks, f"canaries leaked: {sorted(leaks)}"
