"""The admin API on a real loopback server: token, bans, unban, principal state, events."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web

from proxy.admin.api import mount_admin
from proxy.observability.metrics import Metrics
from proxy.state.factory import STATE_LAYER, StateLayer, start_state
from proxy.state.settings import AdminConfig
from tests.state.conftest import RedisServer
from tests.state.helpers import outcome, settings

TOKEN = "admin-token-123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ALICE = "a1" * 32


@pytest.fixture
async def admin(serve_app, clock):
    """(base URL, layer): an app with only the admin API over a memory-store layer."""
    layer = await start_state(settings(abuse={"throttle_at": 2, "ban_at": 3}), Metrics(),
                              clock=clock)
    app = web.Application()
    app[STATE_LAYER] = layer
    assert mount_admin(app, AdminConfig(token=TOKEN))  # type: ignore[arg-type]
    base = await serve_app(app)
    async with aiohttp.ClientSession(base) as session:
        yield session, layer
    await layer.close()


async def ban_alice(layer: StateLayer) -> None:
    for i in range(3):
        await layer.gate.record(outcome(ALICE, "flag", request_id=f"r{i}"))


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"},
                                     {"Authorization": TOKEN}, {"Authorization": "Bearer ü"}])
async def test_requests_without_the_token_are_refused(admin, headers) -> None:
    session, _ = admin
    async with session.get("/admin/bans", headers=headers) as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        body = await response.json()
    assert body["error"]["code"] == "unauthorized"
    assert TOKEN not in str(body)


async def test_ban_listing_state_and_unban(admin, clock) -> None:
    session, layer = admin
    await ban_alice(layer)
    async with session.get("/admin/bans", headers=AUTH) as response:
        bans = (await response.json())["bans"]
    assert [ban["principal"] for ban in bans] == [ALICE]
    assert bans[0]["until_ms"] == clock.ms + 3_600_000
    async with session.get(f"/admin/principals/{ALICE}", headers=AUTH) as response:
        state = await response.json()
    assert state["banned_until_ms"] == bans[0]["until_ms"] and state["strike_count"] == 0
    async with session.delete(f"/admin/bans/{ALICE}", headers=AUTH) as response:
        assert await response.json() == {"principal": ALICE, "unbanned": True}
    assert (await layer.gate.admit(outcome(ALICE).principal)).state == "ok"
    async with session.delete(f"/admin/bans/{ALICE}", headers=AUTH) as response:
        assert (await response.json())["unbanned"] is False


async def test_recent_events_and_paging(admin) -> None:
    session, layer = admin
    await ban_alice(layer)
    async with session.get("/admin/events?count=2", headers=AUTH) as response:
        events = (await response.json())["events"]
    assert [e["request_id"] for e in events] == ["r1", "r2"]
    assert events[-1]["escalation"] == "ban"
    assert events[-1]["reasons"][0]["classifier"] == "script", "JSON fields are decoded"
    async with session.get(f"/admin/events?after={events[0]['id']}", headers=AUTH) as response:
        assert [e["request_id"] for e in (await response.json())["events"]] == ["r2"]


@pytest.mark.parametrize("path", ["/admin/principals/sk-live-key", "/admin/events?after=x",
                                  "/admin/principals/" + "A1" * 32])
async def test_bad_parameters_are_400(admin, path) -> None:
    session, _ = admin
    async with session.get(path, headers=AUTH) as response:
        assert response.status == 400
        assert (await response.json())["error"]["code"] == "bad_parameter"


async def test_store_down_is_503(serve_app, redis_server: RedisServer) -> None:
    layer = await start_state(settings(redis_server.url), Metrics())
    app = web.Application()
    app[STATE_LAYER] = layer
    mount_admin(app, AdminConfig(token=TOKEN))  # type: ignore[arg-type]
    base = await serve_app(app)
    redis_server.kill()
    try:
        async with aiohttp.ClientSession(base) as session, session.get(
                "/admin/bans", headers=AUTH) as response:
            assert response.status == 503
            assert (await response.json())["error"]["code"] == "store_unavailable"
    finally:
        await layer.close()


def test_no_token_no_admin_api(monkeypatch) -> None:
    monkeypatch.delenv("SAFETY_PROXY_ADMIN_TOKEN", raising=False)
    app = web.Application()
    assert mount_admin(app, AdminConfig()) is False
    assert not app.router.routes()
    monkeypatch.setenv("SAFETY_PROXY_ADMIN_TOKEN", "from-env")
    assert mount_admin(web.Application(), AdminConfig()) is True
