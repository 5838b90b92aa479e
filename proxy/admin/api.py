"""The admin HTTP API: a sub-application served at /admin behind a bearer token
(proxy/admin/listener.py says where; proxy/admin/auth.py how the token is checked).

  GET    /admin/bans                      principals banned now (?limit=, default 100)
  DELETE /admin/bans/{principal}          lift a ban and a throttle, forget the strikes
  GET    /admin/principals/{principal}    strikes in the window, ban and throttle
  GET    /admin/events                    recent review events (?count=, or ?after=ID)
  GET, POST /admin/keys; DELETE /admin/keys/{id}   client keys (proxy/admin/keys.py)

Principals are the keyed hashes seen in events and logs. Errors use the OpenAI envelope; a
store that is down answers 503.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from proxy.admin.auth import bearer_auth
from proxy.admin.keys import BadKey, add_key_routes
from proxy.config.state_settings import AdminConfig
from proxy.observability.metrics import Metrics
from proxy.resources import STATE_LAYER
from proxy.state.base import StoreError
from proxy.state.events import event_json
from proxy.state.factory import StateLayer
from proxy.state.keys import check_principal

log = structlog.get_logger("safety_proxy.admin")
_EVENT_ID = re.compile(r"^[0-9]{1,20}-[0-9]{1,20}$")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create_admin_app(token: str, config: AdminConfig, metrics: Metrics) -> web.Application:
    """The API, to mount at /admin; its handlers read the STATE_LAYER of the app above."""
    admin = web.Application(middlewares=[bearer_auth(token, config, metrics), _errors])
    admin.router.add_get("/bans", list_bans)
    admin.router.add_delete("/bans/{principal}", unban)
    admin.router.add_get("/principals/{principal}", principal_state)
    admin.router.add_get("/events", recent_events)
    add_key_routes(admin)
    return admin


def error(status: int, message: str, code: str, kind: str = "invalid_request_error",
          ) -> web.Response:
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return web.json_response(body, status=status)


class BadParameter(Exception):
    """A path or query parameter the API cannot use; becomes a 400."""


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except BadParameter as exc:
        return error(400, str(exc), "bad_parameter")
    except BadKey as exc:
        return error(exc.status, str(exc), "bad_key" if exc.status == 400 else "key_exists")
    except StoreError as exc:
        return error(503, f"state store unavailable: {exc}", "store_unavailable", "server_error")


def _layer(request: web.Request) -> StateLayer:
    return request.config_dict[STATE_LAYER]


def _principal(request: web.Request) -> str:
    try:
        return check_principal(request.match_info["principal"])
    except ValueError:
        raise BadParameter("principal must be a principal hash (hex)") from None


def _int_query(request: web.Request, name: str, default: int, most: int) -> int:
    try:
        return max(1, min(int(request.query.get(name, default)), most))
    except ValueError:
        return default


def _now_ms() -> int:
    return int(time.time() * 1000)


async def list_bans(request: web.Request) -> web.Response:
    now = _now_ms()
    bans = await _layer(request).store.bans(now, _int_query(request, "limit", 100, 10_000))
    return web.json_response({"bans": [
        {"principal": ban.principal, "until_ms": ban.until_ms,
         "retry_after_s": max(1, (ban.until_ms - now + 999) // 1000)} for ban in bans]})


async def unban(request: web.Request) -> web.Response:
    principal = _principal(request)
    lifted = await _layer(request).store.unban(principal)
    log.info("principal_unbanned", principal=principal, lifted=lifted)
    return web.json_response({"principal": principal, "unbanned": lifted})


async def principal_state(request: web.Request) -> web.Response:
    layer = _layer(request)
    window_ms = int(layer.settings.abuse.window_s * 1000)
    state = await layer.store.principal(_principal(request), window_ms, _now_ms())
    return web.json_response({
        "principal": state.principal, "strikes": state.strikes,
        "strike_count": state.strike_count, "banned_until_ms": state.banned_until_ms,
        "throttled_until_ms": state.throttled_until_ms})


async def recent_events(request: web.Request) -> web.Response:
    store, count = _layer(request).store, _int_query(request, "count", 50, 1000)
    after = request.query.get("after")
    if after is not None and not _EVENT_ID.fullmatch(after):
        raise BadParameter("after must be an event id like 1732400000000-0")
    events = await (store.events(after, count) if after else store.recent_events(count))
    return web.json_response({"events": [event_json(e.id, dict(e.fields)) for e in events]})
