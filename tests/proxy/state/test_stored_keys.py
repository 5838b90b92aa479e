"""Client keys made and revoked at run time (auth.mode: keys): through the admin API and
the CLI, kept in the store as hashes, seen by every replica within the key cache time, and
never let through when the store cannot say."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
import yaml

from proxy.admin.listener import ADMIN_LISTENER
from proxy.cli import main as cli
from proxy.config.auth import ClientKey
from proxy.observability.metrics import Metrics
from proxy.pipeline.identify import Identifier
from proxy.state.client_keys import CACHE_S, StoredKeys
from proxy.state.health import StoreHealth
from proxy.state.memory import MemoryStore
from tests.proxy.state.conftest import Clock
from tests.proxy.state.helpers import SECRET
from tests.support.redis_server import RedisServer

TOKEN = "admin-token-for-keys"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
CONFIG_KEY = "sp-config-key-0001"
HASH = Identifier(SECRET.encode()).hash


def sections(store_url: str = "memory") -> dict[str, Any]:
    return {"upstream": {"api_key": "sk-operator"}, "identity": {"secret": SECRET},
            "store": {"url": store_url, "timeout_s": 0.5},
            "tenants": {"known": {"acme": {}}},
            "auth": {"mode": "keys", "keys": [{"id": "from-config",
                                                "hash": HASH("api_key", CONFIG_KEY)}]},
            "admin": {"token": TOKEN, "port": 0}}


def cli_config(store_url: str) -> dict[str, Any]:
    config = {**sections(store_url), "admin": {}}
    config["upstream"] = {"base_url": "http://127.0.0.1:9/v1", "api_key": "sk-operator"}
    return config


async def ask(base: str, key: str) -> int:
    async with openai.AsyncOpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0,
                                  timeout=10) as client:
        try:
            await client.chat.completions.create(model="m",
                                                 messages=[{"role": "user", "content": "hi"}])
        except openai.APIStatusError as error:
            return error.status_code
    return 200


async def test_a_key_made_through_the_admin_api_works_at_once_until_revoked(
        start_proxy, fake_upstream) -> None:
    base, app = await start_proxy(**sections())
    admin = f"{app[ADMIN_LISTENER].url}/admin/keys"
    async with aiohttp.ClientSession(headers=ADMIN) as session:
        async with session.post(admin, json={"id": "partner", "tenant": "acme",
                                             "name_users": True}) as response:
            assert response.status == 201
            made = await response.json()
        key = made["key"]
        assert key.startswith("sp-") and made["entry"]["principal"] == HASH("api_key", key)
        assert await ask(base, key) == 200
        async with session.get(admin) as response:
            listed = (await response.json())["keys"]
        assert [(k["id"], k["source"]) for k in listed] == [("from-config", "config"),
                                                           ("partner", "store")]
        assert key not in str(listed)
        async with session.delete(f"{admin}/partner") as response:
            assert await response.json() == {"id": "partner", "revoked": True}
        assert await ask(base, key) == 401, "revoked on this replica at once"
        assert await ask(base, CONFIG_KEY) == 200
    assert all(key not in str(sent) for sent in fake_upstream.headers)


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"id": "x", "tenant": "nope"}, 400, "bad_key"),
    ({"id": "Bad Id"}, 400, "bad_key"),
    ({"id": "x", "hash": "0" * 64}, 400, "bad_key"),  # a hash is never the client's choice
    ({"id": "from-config"}, 409, "key_exists"),
])
async def test_bad_key_requests_are_clear_errors(start_proxy, body, status, code) -> None:
    _, app = await start_proxy(**sections())
    async with aiohttp.ClientSession(headers=ADMIN) as session, session.post(
            f"{app[ADMIN_LISTENER].url}/admin/keys", json=body) as response:
        assert response.status == status
        assert (await response.json())["error"]["code"] == code


async def test_a_config_key_is_not_revoked_through_the_api(start_proxy) -> None:
    base, app = await start_proxy(**sections())
    async with aiohttp.ClientSession(headers=ADMIN) as session, session.delete(
            f"{app[ADMIN_LISTENER].url}/admin/keys/from-config") as response:
        assert response.status == 400
        assert "config file" in (await response.json())["error"]["message"]
    assert await ask(base, CONFIG_KEY) == 200


async def test_other_replicas_follow_within_the_cache_time(clock: Clock) -> None:
    store = MemoryStore()
    one, two = (StoredKeys(store, StoreHealth(store, Metrics()), clock=clock)
                for _ in range(2))
    key = ClientKey(id="k", hash="ab" * 32)
    assert await two.find(key.hash) is None  # replica two caches "no such key"
    await one.create(key)
    assert await one.find(key.hash) == key
    assert await two.find(key.hash) is None
    clock.advance(CACHE_S)
    assert await two.find(key.hash) == key
    assert await one.revoke("k") is True
    assert await two.find(key.hash) == key, "until its cache time passes"
    clock.advance(CACHE_S)
    assert await two.find(key.hash) is None


async def test_an_unverifiable_key_is_refused_while_config_keys_still_work(
        start_proxy, redis_server: RedisServer) -> None:
    base, app = await start_proxy(**sections(redis_server.url))
    async with aiohttp.ClientSession(headers=ADMIN) as session, session.post(
            f"{app[ADMIN_LISTENER].url}/admin/keys", json={"id": "stored"}) as response:
        key = (await response.json())["key"]
    assert await ask(base, key) == 200
    redis_server.kill()
    assert await ask(base, "sp-never-seen-before") == 503  # the store cannot say: refused
    assert await ask(base, CONFIG_KEY) == 200


def test_the_cli_makes_lists_and_revokes_stored_keys(tmp_path: Path, capsys,
                                                     redis_server: RedisServer) -> None:
    path = tmp_path / "proxy.yaml"
    path.write_text(yaml.safe_dump(cli_config(redis_server.url)))
    assert cli(["keys", "create", "--id", "ci", "--tenant", "acme", "--store",
                "--config", str(path)]) == 0
    key = capsys.readouterr().out.strip()
    assert key.startswith("sp-")
    assert cli(["keys", "list", "--config", str(path)]) == 0
    (listed,) = [yaml.safe_load(line) for line in capsys.readouterr().out.splitlines()]
    assert listed == {"id": "ci", "hash": HASH("api_key", key), "tenant": "acme"}
    assert cli(["keys", "create", "--id", "ci", "--store", "--config", str(path)]) == 2
    assert "already named 'ci'" in capsys.readouterr().err
    assert cli(["keys", "revoke", "ci", "--config", str(path)]) == 0
    assert '"revoked":true' in capsys.readouterr().out
    assert cli(["keys", "list", "--config", str(path)]) == 0
    assert capsys.readouterr().out == ""
    redis_keys = repr(redis_server.dump())
    assert key not in redis_keys


def test_stored_keys_need_a_shared_store(tmp_path: Path, capsys) -> None:
    path = tmp_path / "proxy.yaml"
    path.write_text(yaml.safe_dump(cli_config("memory")))
    assert cli(["keys", "create", "--id", "x", "--store", "--config", str(path)]) == 2
    assert "memory" in capsys.readouterr().err
