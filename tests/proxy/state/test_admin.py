"""The admin API on a real loopback server: token, bans, unban, principal state, events;
its own listener, and failed authentications logged, counted and rate-limited."""

from __future__ import annotations

import socket

import aiohttp
import pytest
from aiohttp import web
from structlog.testing import capture_logs

from proxy.admin.auth import FailureLimiter
from proxy.admin.listener import ADMIN_LISTENER, mount_admin
from proxy.config.loader import ConfigError
from proxy.config.state_settings import AdminConfig
from proxy.observability.metrics import Metrics
from proxy.pipeline.identify import Identifier
from proxy.resources import IDENTIFIER, METRICS, STATE_LAYER
from proxy.state.factory import StateLayer, start_state
from tests.proxy.state.helpers import outcome, sample, settings
from tests.support.redis_server import RedisServer

TOKEN = "admin-token-123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ALICE = "a1" * 32
# /admin on the app's own port: these tests serve a bare app with only the admin API.
SHARED = AdminConfig(token=TOKEN, port=None)  # type: ignore[arg-type]


@pytest.fixture
async def admin(serve_app, clock):
    """(base URL, layer): an app with only the admin API over a memory-store layer."""
    layer = await start_state(settings(abuse={"throttle_at": 2, "ban_at": 3}), Metrics(),
                              clock=clock)
    app = web.Application()
    app[STATE_LAYER], app[METRICS] = layer, Metrics()
    app[IDENTIFIER] = Identifier(layer.principal_secret)
    assert mount_admin(app, SHARED)
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
    app[STATE_LAYER], app[METRICS] = layer, Metrics()
    app[IDENTIFIER] = Identifier(layer.principal_secret)
    mount_admin(app, SHARED)
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
    app = web.Application()
    app[METRICS] = Metrics()
    assert mount_admin(app, AdminConfig()) is True


# The admin API on its own listener, as the proxy serves it by default.

WRONG = "Bearer wrong-token-guess-7731"


@pytest.fixture
async def proxy_with_admin(start_proxy) -> tuple[str, str, web.Application]:
    """(client base URL, admin base URL, proxy app): a whole proxy whose admin API listens
    on its own free loopback port."""
    base, app = await start_proxy(admin={"token": TOKEN, "port": 0})
    admin_url = app[ADMIN_LISTENER].url
    assert admin_url is not None and admin_url != base
    return base, admin_url, app


async def test_the_admin_api_listens_on_its_own_port_only(proxy_with_admin) -> None:
    base, admin_url, _ = proxy_with_admin
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{admin_url}/admin/bans", headers=AUTH) as response:
            assert response.status == 200 and await response.json() == {"bans": []}
        async with session.get(f"{base}/admin/bans", headers=AUTH) as response:
            assert response.status == 404
            assert (await response.json())["error"]["code"] == "unknown_url"
        async with session.post(f"{admin_url}/v1/chat/completions", headers=AUTH,
                                json={"model": "m", "messages": []}) as response:
            assert response.status == 404, "the admin port serves nothing else"
            assert "error" in await response.json()


async def test_failed_authentications_are_logged_counted_then_rate_limited(
        proxy_with_admin) -> None:
    base, admin_url, app = proxy_with_admin
    with capture_logs() as logs:
        async with aiohttp.ClientSession() as session:
            statuses = [await _get_bans(session, admin_url, {"Authorization": WRONG})
                        for _ in range(9)]
            statuses.append(await _get_bans(session, admin_url, {}))  # the 10th: missing
            async with session.get(f"{admin_url}/admin/bans", headers=AUTH) as response:
                assert response.status == 429, "locked out: even the right token waits"
                assert 1 <= int(response.headers["Retry-After"]) <= 60
                assert (await response.json())["error"]["code"] == "admin_auth_rate_limited"
    assert statuses == [401] * 10
    failures = [line for line in logs if line["event"] == "admin_auth_failed"]
    assert [line["reason"] for line in failures] == ["invalid"] * 9 + ["missing"]
    assert failures[0]["peer"] == "127.0.0.1" and failures[0]["log_level"] == "warning"
    assert [line["event"] for line in logs].count("admin_auth_locked") == 1
    assert "wrong-token-guess" not in repr(logs) and TOKEN not in repr(logs)
    metrics = app[METRICS]
    assert sample(metrics, "safety_proxy_admin_auth_failures_total",
                  {"reason": "invalid"}) == 9
    assert sample(metrics, "safety_proxy_admin_auth_failures_total",
                  {"reason": "missing"}) == 1
    assert sample(metrics, "safety_proxy_admin_auth_failures_total",
                  {"reason": "rate_limited"}) == 1


async def test_a_locked_out_address_does_not_lock_out_another(proxy_with_admin) -> None:
    _, admin_url, _ = proxy_with_admin
    async with aiohttp.ClientSession() as session:
        for _ in range(10):
            assert await _get_bans(session, admin_url, {"Authorization": WRONG}) == 401
        assert await _get_bans(session, admin_url, AUTH) == 429
    # 127.0.0.0/8 is all loopback on Linux: a second peer address, to the same listener
    other = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
    async with aiohttp.ClientSession(connector=other) as session:
        assert await _get_bans(session, admin_url, AUTH) == 200
        assert await _get_bans(session, admin_url, {"Authorization": WRONG}) == 401


async def test_an_admin_port_in_use_is_a_clear_start_up_error(start_proxy) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"admin.port: .*127.0.0.1:{port}"):
            await start_proxy(admin={"token": TOKEN, "port": port})


async def _get_bans(session: aiohttp.ClientSession, admin_url: str,
                    headers: dict[str, str]) -> int:
    async with session.get(f"{admin_url}/admin/bans", headers=headers) as response:
        await response.read()
        return response.status


# The limiter alone, on a settable clock.

def test_the_limiter_locks_a_peer_for_the_rest_of_its_window(clock) -> None:
    limiter = FailureLimiter(limit=3, window_s=60, peers=100, clock=clock)
    assert [limiter.failed("10.0.0.1") for _ in range(3)] == [False, False, True]
    assert limiter.locked_for("10.0.0.1") == 60 and limiter.locked_for("10.0.0.2") is None
    clock.advance(59.5)
    assert limiter.locked_for("10.0.0.1") == pytest.approx(0.5)
    clock.advance(0.5)
    assert limiter.locked_for("10.0.0.1") is None
    assert limiter.failed("10.0.0.1") is False, "a new window opens at the next failure"


def test_the_limiter_keys_on_the_peer_and_forgets_the_least_recent(clock) -> None:
    limiter = FailureLimiter(limit=2, window_s=60, peers=2, clock=clock)
    limiter.failed("a")
    limiter.failed("b")
    limiter.failed("a")  # a locked; b one failure
    assert limiter.locked_for("a") is not None and limiter.locked_for("b") is None
    limiter.failed("c")  # over the bound: b, the least recently failed, is forgotten
    limiter.failed("b")
    assert limiter.locked_for("b") is None, "b starts again from one failure"
    assert len(limiter._failures) == 2
