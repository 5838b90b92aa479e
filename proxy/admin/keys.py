"""The admin API's client keys (auth.mode: keys), made and revoked at run time:

  GET    /admin/keys          every key: the config's (auth.keys) and the store's
  POST   /admin/keys          make a key in the store: {"id", "tenant"?, "assert_tenant"?,
                              "name_users"?, "expires"?} -> 201 {"key", "entry"}; the key is
                              in this answer only, the store keeps its hash
  DELETE /admin/keys/{id}     revoke a stored key (a config key is revoked in the file)

A key made or revoked here counts on every replica within the key cache time
(proxy/state/client_keys.py). Nothing here logs or returns a key but the one just made.
"""

from __future__ import annotations

from typing import Any

import orjson
import structlog
from aiohttp import web
from pydantic import ValidationError

from proxy.config.auth import ClientKey, new_key
from proxy.config.schema import ProxyConfig
from proxy.resources import IDENTIFIER, READINESS, STATE_LAYER
from proxy.state.client_keys import DuplicateKeyId, UndeclaredTenant, check_new_key

log = structlog.get_logger("safety_proxy.admin")
_SETTINGS = frozenset({"id", "tenant", "assert_tenant", "name_users", "expires"})


class BadKey(Exception):
    """A key the API cannot make or revoke as asked; ``status`` 400 or 409."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def add_key_routes(admin: web.Application) -> None:
    admin.router.add_get("/keys", list_keys)
    admin.router.add_post("/keys", create_key)
    admin.router.add_delete("/keys/{key_id}", revoke_key)


async def list_keys(request: web.Request) -> web.Response:
    config, layer = _config(request), request.config_dict[STATE_LAYER]
    shown = [_shown(key, "config") for key in config.auth.keys]
    shown += [_shown(key, "store") for key in await layer.client_keys.all()]
    return web.json_response({"keys": shown})


async def create_key(request: web.Request) -> web.Response:
    settings, config = await _settings(request), _config(request)
    layer, identifier = request.config_dict[STATE_LAYER], request.config_dict[IDENTIFIER]
    key = new_key()
    try:
        entry = ClientKey(hash=identifier.hash("api_key", key), **settings)
    except ValidationError as exc:
        problem = exc.errors()[0]
        raise BadKey(f"{'.'.join(map(str, problem['loc']))}: {problem['msg']}") from None
    try:
        check_new_key(entry, config)
        await layer.client_keys.create(entry)
    except UndeclaredTenant as exc:
        raise BadKey(str(exc)) from None
    except DuplicateKeyId as exc:
        raise BadKey(str(exc), 409) from None
    log.info("client_key_created", key_id=entry.id, tenant=entry.tenant)
    return web.json_response({"key": key, "entry": _shown(entry, "store")}, status=201)


async def revoke_key(request: web.Request) -> web.Response:
    key_id = request.match_info["key_id"]
    if any(key.id == key_id for key in _config(request).auth.keys):
        raise BadKey(f"key {key_id!r} is in the config file (auth.keys): remove it there")
    revoked = await request.config_dict[STATE_LAYER].client_keys.revoke(key_id)
    log.info("client_key_revoked", key_id=key_id, revoked=revoked)
    return web.json_response({"id": key_id, "revoked": revoked})


async def _settings(request: web.Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise BadKey("the body must be a JSON object") from None
    if not isinstance(body, dict) or not body.keys() <= _SETTINGS:
        raise BadKey(f"the body must be a JSON object with only {sorted(_SETTINGS)}")
    return body


def _config(request: web.Request) -> ProxyConfig:
    holder = request.config_dict[READINESS].holder
    if holder is None:
        raise web.HTTPServiceUnavailable(text="the proxy is starting")
    return holder.current.config


def _shown(key: ClientKey, source: str) -> dict[str, Any]:
    """A key as the API shows it: its settings and principal hash, never a key."""
    return {"id": key.id, "principal": key.hash, "tenant": key.tenant,
            "assert_tenant": key.assert_tenant, "name_users": key.name_users,
            "expires": key.expires.isoformat() if key.expires else None, "source": source}
