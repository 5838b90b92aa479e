"""Who may use the proxy, end to end with the official SDKs: the proxy's own client keys
(auth.mode: keys) in front of an injected upstream key, tenants bound to keys, end users
struck on their own under an application key, and a key that stays banned whatever user it
names. Every attempt here is one a client could make to get past the guard."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import anthropic
import openai
import pytest
import structlog
import yaml

from proxy.pipeline.identify import Identifier
from proxy.resources import METRICS
from tests.e2e.support import MEH, message_json
from tests.proxy.state.helpers import SECRET, eventually, sample

OPERATOR_KEY = "sk-operator-upstream-key"
APP_KEY, PLAIN_KEY, PLATFORM_KEY, OLD_KEY = (
    "sp-app-key-0001", "sp-plain-key-0002", "sp-platform-key-0003", "sp-old-key-0004")
HASH = Identifier(SECRET.encode()).hash


def keys_config(**abuse: Any) -> dict[str, Any]:
    """Keys mode with four keys; the upstream key is the operator's."""
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    return {
        "upstream": {"api_key": OPERATOR_KEY},
        "identity": {"secret": SECRET},
        "tenants": {"header": "x-tenant-id", "known": {
            "strict": {"policy": {"input": {"script": {"meh": {"block": 0.55}}}}},
            "lenient": {}}},
        "auth": {"mode": "keys", "keys": [
            {"id": "app", "hash": HASH("api_key", APP_KEY), "tenant": "lenient",
             "name_users": True},
            {"id": "plain", "hash": HASH("api_key", PLAIN_KEY), "tenant": "strict"},
            {"id": "platform", "hash": HASH("api_key", PLATFORM_KEY), "tenant": "lenient",
             "assert_tenant": True},
            {"id": "old", "hash": HASH("api_key", OLD_KEY), "expires": past},
        ]},
        "abuse": {"window_s": 600, "throttle_at": 3, "throttle_s": 60, "ban_at": 6,
                  "ban_s": 600, "application": {"throttle_at": 5, "ban_at": 8}, **abuse},
    }


def client(base: str, key: str | None, **headers: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{base}/v1", api_key=key or "", max_retries=0,
                              timeout=10, default_headers=headers or None)


async def ask(base: str, key: str | None, text: str = "hello", **extra: Any) -> Any:
    async with client(base, key, **extra.pop("headers", {})) as sdk:
        return await sdk.chat.completions.create(
            model="m", messages=[{"role": "user", "content": text}], **extra)


@pytest.mark.parametrize(("key", "code"), [
    ("sp-guessed", "invalid_api_key"), (OLD_KEY, "expired_api_key"),
    (OPERATOR_KEY, "invalid_api_key")])
async def test_without_a_valid_key_nothing_reaches_the_upstream(
        start_proxy, fake_upstream, key, code) -> None:
    base, app = await start_proxy(**keys_config())
    with pytest.raises(openai.AuthenticationError) as refused:
        await ask(base, key)
    assert refused.value.status_code == 401 and refused.value.code == code
    assert refused.value.response.headers["x-safety-decision"] == "refused"
    assert refused.value.response.headers["x-should-retry"] == "false"
    assert fake_upstream.requests == []
    reason = "expired" if code == "expired_api_key" else "unknown"
    assert sample(app[METRICS], "safety_proxy_auth_failures_total", {"reason": reason}) == 1


async def test_a_request_without_any_key_is_refused(start_proxy, fake_upstream) -> None:
    base, app = await start_proxy(**keys_config())
    async with aiohttp.ClientSession() as session, session.post(
            f"{base}/v1/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "hi"}]}) as response:
        body = await response.json()
    assert response.status == 401 and body["error"]["code"] == "missing_api_key"
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert fake_upstream.requests == []
    assert sample(app[METRICS], "safety_proxy_auth_failures_total", {"reason": "missing"}) == 1


async def test_every_api_and_path_asks_for_the_key(start_proxy, fake_upstream) -> None:
    """The Anthropic SDK gets Anthropic's authentication_error; the moderation endpoint and
    the forwarded models list refuse too: no path serves an unauthenticated client."""
    base, _ = await start_proxy(**keys_config())
    async with anthropic.AsyncAnthropic(base_url=base, api_key="sp-guessed",
                                        max_retries=0) as claude:
        with pytest.raises(anthropic.AuthenticationError) as refused:
            await claude.messages.create(model="c", max_tokens=10,
                                         messages=[{"role": "user", "content": "hi"}])
    assert refused.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    async with client(base, "sp-guessed") as sdk:
        with pytest.raises(openai.AuthenticationError):
            await sdk.moderations.create(input="hi")
        with pytest.raises(openai.AuthenticationError):
            await sdk.models.list()
    assert fake_upstream.requests == [] and fake_upstream.headers == []


async def test_a_valid_key_in_any_header_is_served_with_the_operators_key(
        start_proxy, fake_upstream) -> None:
    base, _ = await start_proxy(**keys_config())
    assert (await ask(base, PLAIN_KEY)).choices[0].message.content
    fake_upstream.answer = lambda body: message_json("Hello from Claude")
    async with anthropic.AsyncAnthropic(base_url=base, api_key=APP_KEY,
                                        max_retries=0) as claude:
        answer = await claude.messages.create(model="c", max_tokens=10,
                                              messages=[{"role": "user", "content": "hi"}])
    assert answer.content[0].text == "Hello from Claude"  # type: ignore[union-attr]
    for sent in fake_upstream.headers:
        assert sent["Authorization"] == f"Bearer {OPERATOR_KEY}"
        assert PLAIN_KEY not in str(sent) and APP_KEY not in str(sent)


async def test_the_tenant_comes_from_the_key_not_the_client(start_proxy) -> None:
    """MEHWORD (0.6) is blocked by the strict tenant (0.55), flagged elsewhere (0.9)."""
    base, _ = await start_proxy(**keys_config(enabled=False))
    with pytest.raises(openai.BadRequestError):  # bound to strict: a header cannot escape it
        await ask(base, PLAIN_KEY, MEH, headers={"x-tenant-id": "lenient"})
    async with aiohttp.ClientSession() as session:
        for tenant, decision in (("strict", "block"), ("lenient", "flag"), (None, "flag")):
            headers = {"Authorization": f"Bearer {PLATFORM_KEY}",
                       **({"x-tenant-id": tenant} if tenant else {})}
            async with session.post(f"{base}/v1/chat/completions", headers=headers, json={
                    "model": "m", "messages": [{"role": "user", "content": MEH}]}) as r:
                assert r.headers["x-safety-decision"] == decision, tenant


async def post_as(session: aiohttp.ClientSession, base: str, user: str, text: str) -> int:
    async with session.post(f"{base}/v1/chat/completions", headers={
            "Authorization": f"Bearer {APP_KEY}"}, json={
            "model": "m", "user": user,
            "messages": [{"role": "user", "content": text}]}) as response:
        await response.read()
        return response.status


async def test_an_abusive_end_user_is_throttled_alone_and_rotating_users_stops_the_key(
        start_proxy) -> None:
    """Users throttle at 3 strikes; the application key at 5 and is banned at 6. A flag is
    one strike, recorded after its answer; a throttle lasts 2 s."""
    base, _ = await start_proxy(**keys_config(throttle_s=2, application={
        "throttle_at": 5, "ban_at": 6}))
    async with aiohttp.ClientSession() as session:
        for _ in range(3):
            assert await post_as(session, base, "mallory", MEH) == 200  # flagged: a strike each
        await eventually(lambda: _refused(session, base, "mallory", 429))
        assert await post_as(session, base, "alice", "hello") == 200, "other users served"
        for n in range(2):  # fresh user names: the key collects every strike (3 + 2 = 5)
            assert await post_as(session, base, f"sock-{n}", MEH) == 200
        await eventually(lambda: _refused(session, base, "alice", 429))  # the whole key

        async def banned() -> bool:  # once the throttle lapses, the 6th strike bans the key
            await post_as(session, base, "sock-next", MEH)
            return await _refused(session, base, "brand-new-user", 403)
        await eventually(banned, timeout=10)


async def _refused(session: aiohttp.ClientSession, base: str, user: str, status: int) -> bool:
    return await post_as(session, base, user, "hello") == status


async def test_key_revoked_by_a_reload_is_refused_at_once(start_proxy, tmp_path) -> None:
    base, app = await start_proxy(**keys_config())
    assert (await ask(base, PLAIN_KEY)).choices
    path = tmp_path / "proxy.yaml"
    config = yaml.safe_load(path.read_text())
    config["auth"]["keys"] = [key for key in config["auth"]["keys"] if key["id"] != "plain"]
    path.write_text(yaml.safe_dump(config))
    from proxy.resources import RELOADER
    assert await app[RELOADER].reload()

    async def revoked() -> bool:
        try:
            await ask(base, PLAIN_KEY)
        except openai.AuthenticationError:
            return True
        return False
    await eventually(revoked)
    assert (await ask(base, APP_KEY)).choices, "the other keys still work"


async def test_concurrent_requests_with_keys_are_all_authenticated(start_proxy) -> None:
    base, _ = await start_proxy(**keys_config())
    results = await asyncio.gather(*(ask(base, key) for key in (APP_KEY, PLAIN_KEY) * 10),
                                   *(ask(base, "sp-guessed") for _ in range(5)),
                                   return_exceptions=True)
    assert sum(isinstance(r, openai.AuthenticationError) for r in results) == 5
    assert sum(not isinstance(r, BaseException) for r in results) == 20


async def test_an_open_relay_runs_only_when_asked_for_and_says_so(start_proxy) -> None:
    with structlog.testing.capture_logs() as logs:
        base, _ = await start_proxy(upstream={"api_key": OPERATOR_KEY},
                                    auth={"mode": "none", "allow_open_relay": True})
    assert [entry["log_level"] for entry in logs if entry["event"] == "open_relay"] == [
        "warning"]
    assert (await ask(base, "any-key")).choices


async def test_a_client_key_never_reaches_the_upstream_even_without_an_operator_key(
        start_proxy, fake_upstream) -> None:
    """A local model server needs no key; the proxy's client keys are not its business."""
    sections = keys_config()
    del sections["upstream"]
    base, _ = await start_proxy(**sections)
    assert (await ask(base, PLAIN_KEY)).choices
    async with aiohttp.ClientSession() as session, session.get(
            f"{base}/v1/models", headers={"api-key": APP_KEY}) as response:
        assert response.status == 200
    assert len(fake_upstream.headers) == 2  # the chat request and the models list
    for sent in fake_upstream.headers:
        assert not {"authorization", "x-api-key", "api-key"} & {k.lower() for k in sent}
