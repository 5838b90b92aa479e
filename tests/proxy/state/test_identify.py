"""Who is calling: the key checked as auth.mode says, the tenant it may use, the end user
it names; keyed hashes only, never the raw value stored."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from multidict import CIMultiDict
from pydantic import ValidationError

from proxy.config.schema import ProxyConfig
from proxy.observability.metrics import Metrics
from proxy.pipeline.identify import Caller, Identifier, bearer_token
from proxy.protocol.errors import BadRequest, Unauthorized
from proxy.state.factory import build_state, start_state
from tests.proxy.state.helpers import outcome, settings
from tests.support.redis_server import RedisServer

API_KEY = "sk-live-TOPSECRET-0123456789"
SECRET = b"s3cret"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
HEADERS = {"Authorization": f"Bearer {API_KEY}", "x-safety-user": "header-user-9"}
BODY = {"model": "m", "user": "end-user-42"}
IDENT = Identifier(SECRET)


def config(**sections: Any) -> ProxyConfig:
    return ProxyConfig.model_validate({"upstream": {"base_url": "http://127.0.0.1:9/v1"},
                                       "identity": {"secret": SECRET.decode()}, **sections})


def caller(cfg: ProxyConfig, headers: Any = HEADERS, body: Any = BODY,
           now: datetime = NOW) -> Caller:
    return IDENT.caller(cfg, headers, body, now)


def key_entry(key: str, **fields: Any) -> dict[str, Any]:
    return {"id": fields.pop("id", "app-a"), "hash": IDENT.hash("api_key", key), **fields}


@pytest.mark.parametrize("headers", [{"x-api-key": API_KEY}, {"X-Api-Key": API_KEY},
                                     {"api-key": f" {API_KEY} "}])
def test_a_key_is_one_principal_whichever_header_carries_it(headers) -> None:
    """Anthropic clients send x-api-key, Azure clients api-key: never anonymous."""
    bearer = caller(config(), {"Authorization": f"Bearer {API_KEY}"}).principal
    assert caller(config(), headers).principal == bearer
    assert bearer.source == "api_key" and bearer.key_hash == IDENT.hash("api_key", API_KEY)


def test_other_authorization_schemes_are_principals_and_no_credential_is_anonymous() -> None:
    basic = caller(config(), {"Authorization": "Basic dXNlcjpwdw=="}).principal
    assert basic.source == "api_key" and basic.key_hash is not None
    assert caller(config(), {}).principal.source == "anonymous"
    assert caller(config(), {"Authorization": "Bearer "}).principal.source == "anonymous"


def test_end_users_are_ignored_unless_the_caller_is_trusted_to_name_them() -> None:
    untrusted = caller(config())
    assert untrusted.user is None and not untrusted.principal.application
    trusted = caller(config(identity={"secret": "s3cret", "trust_users": True}))
    assert trusted.principal.application
    assert trusted.user is not None and trusted.user.source == "user"
    assert trusted.user.key_hash == IDENT.user_hash("end-user-42", trusted.principal.key_hash)


@pytest.mark.parametrize(("body", "expected"), [
    ({"safety_identifier": "sid-1", "user": "u-1"}, "sid-1"),
    ({"user": "u-1", "metadata": {"user_id": "anthropic-1"}}, "u-1"),
    ({"metadata": {"user_id": "anthropic-1"}}, "anthropic-1"),
    ({"user": "  ", "metadata": {"user_id": 7}}, "header-user-9"),
    (None, "header-user-9"),
])
def test_the_end_user_comes_from_the_first_field_present(body, expected) -> None:
    cfg = config(identity={"secret": "s3cret", "trust_users": True})
    user = caller(cfg, body=body).user
    assert user is not None
    assert user.key_hash == IDENT.user_hash(expected, IDENT.hash("api_key", API_KEY))


def test_end_users_are_scoped_to_the_key_that_names_them() -> None:
    cfg = config(identity={"secret": "s3cret", "trust_users": True})
    one = caller(cfg, {"Authorization": "Bearer sk-app-one"}).user
    two = caller(cfg, {"Authorization": "Bearer sk-app-two"}).user
    assert one is not None and two is not None and one.key_hash != two.key_hash


@pytest.mark.parametrize(("headers", "reason", "code"), [
    ({}, "missing", "missing_api_key"),
    ({"Authorization": "Bearer sp-not-a-key"}, "unknown", "invalid_api_key"),
    ({"x-api-key": "sp-expired"}, "expired", "expired_api_key"),
])
def test_keys_mode_refuses_a_missing_unknown_or_expired_key(headers, reason, code) -> None:
    cfg = config(auth={"mode": "keys", "keys": [
        key_entry("sp-good"), key_entry("sp-expired", id="old",
                                        expires=(NOW - timedelta(seconds=1)).isoformat())]})
    with pytest.raises(Unauthorized) as refused:
        caller(cfg, headers)
    assert (refused.value.reason, refused.value.code, refused.value.status) == (reason, code, 401)
    assert "sp-" not in refused.value.message
    assert caller(cfg, {"api-key": "sp-good"}).key_id == "app-a"


TENANTS = {"header": "x-tenant-id", "known": {"acme": {}, "lenient": {}}}


@pytest.mark.parametrize(("key", "sent", "expected"), [
    ({"tenant": "acme"}, None, "acme"),
    ({"tenant": "acme"}, "lenient", "acme"),  # a client never picks its own policy
    ({}, "lenient", "other"),
    ({"tenant": "acme", "assert_tenant": True}, "lenient", "lenient"),  # a platform key
    ({"tenant": "acme", "assert_tenant": True}, "unknown", "other"),
    ({"tenant": "acme", "assert_tenant": True}, None, "acme"),
])
def test_the_tenant_comes_from_the_key(key, sent, expected) -> None:
    cfg = config(tenants=TENANTS, auth={"mode": "keys", "keys": [key_entry("sp-k", **key)]})
    headers = {"x-api-key": "sp-k", **({"x-tenant-id": sent} if sent else {})}
    assert caller(cfg, headers).tenant == expected


def test_the_tenant_header_counts_without_keys_only_when_trusted() -> None:
    headers = {"x-tenant-id": "lenient"}
    assert caller(config(tenants=TENANTS), headers).tenant == "other"
    trusted = config(tenants={**TENANTS, "trust_header": True})
    assert caller(trusted, headers).tenant == "lenient"
    assert caller(config(), headers).tenant is None  # no tenants configured


def test_a_key_names_users_only_when_it_may() -> None:
    cfg = config(auth={"mode": "keys", "keys": [key_entry("sp-app", name_users=True),
                                                 key_entry("sp-plain", id="plain")]})
    app = caller(cfg, {"x-api-key": "sp-app"})
    assert app.user is not None and app.principal.application
    plain = caller(cfg, {"x-api-key": "sp-plain"})
    assert plain.user is None and not plain.principal.application
    assert caller(config(identity={"secret": "s3cret", "trust_users": True},
                         auth={"mode": "keys", "keys": [key_entry("sp-plain")]}),
                  {"x-api-key": "sp-plain"}).user is None, "keys mode: the key decides"


@pytest.mark.parametrize(("sections", "message"), [
    ({"upstream": {"base_url": "http://u/v1", "api_key": "sk-op"}}, "auth.mode: keys"),
    ({"upstream": {"base_url": "http://u/v1", "api_key_env": "K"}, "auth": {"mode": "none"}},
     "allow_open_relay"),
    ({"auth": {"mode": "keys"}, "identity": {"secret": None, "secret_env": None}},
     "identity.secret"),
    ({"auth": {"mode": "keys", "keys": [{"id": "a", "hash": "0" * 64, "tenant": "nope"}]}},
     "no tenant named 'nope'"),
    ({"auth": {"keys": [{"id": "a", "hash": "0" * 64}, {"id": "a", "hash": "1" * 64}]}},
     "duplicate id"),
    ({"identity": {"sources": ["api_key"]}}, "identity.user_fields"),
])
def test_unsafe_or_stale_auth_configs_do_not_load(sections, message) -> None:
    with pytest.raises(ValidationError, match=message.replace(".", r"\.")):
        config(**sections)


def test_an_open_relay_loads_only_when_asked_for() -> None:
    cfg = config(upstream={"base_url": "http://u/v1", "api_key": "sk-op"},
                 auth={"mode": "none", "allow_open_relay": True})
    assert caller(cfg, {}).principal.source == "anonymous"
    keys = config(upstream={"base_url": "http://u/v1", "api_key": "sk-op"},
                  auth={"mode": "keys", "keys": [key_entry("sp-k")]})
    assert caller(keys, {"x-api-key": "sp-k"}).key_id == "app-a"


def test_hashes_are_keyed_hex_and_separate_sources() -> None:
    one, other = Identifier(b"one"), Identifier(b"two")
    digest = one.hash("api_key", API_KEY)
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert API_KEY not in digest
    assert digest != other.hash("api_key", API_KEY), "another secret, another principal"
    assert digest != one.hash("user", API_KEY), "a user id equal to a key is not that key"
    assert digest == one.hash("api_key", API_KEY), "stable across replicas"


def test_kept_hashes_are_the_keyed_hashes_and_their_number_is_bounded() -> None:
    fresh = Identifier(SECRET)
    fresh.HASHES_KEPT = 3  # type: ignore[misc]
    expected = {value: hmac.new(SECRET, f"user:{value}".encode(), hashlib.sha256).hexdigest()
                for value in ("a", "b", "c", "d")}
    for value, digest in expected.items():
        assert fresh.hash("user", value) == digest
        assert fresh.hash("user", value) == digest, "the kept one is the same"
        assert fresh.hash("api_key", value) != digest, "kept per source"
    assert len(fresh._hashes) <= 3  # emptied when full, never past the bound


def test_bearer_parsing() -> None:
    assert bearer_token("bearer  abc ") == "abc"
    assert bearer_token("Bearer") is None
    assert bearer_token(None) is None


def test_a_shared_store_needs_a_configured_secret(redis_server: RedisServer) -> None:
    from proxy.config.loader import ConfigError
    with pytest.raises(ConfigError, match=r"identity\.secret"):
        build_state(settings(redis_server.url, identity={"secret": None, "secret_env": None}),
                    Metrics())


async def test_the_api_key_never_reaches_redis(redis_server: RedisServer) -> None:
    layer = await start_state(settings(redis_server.url, abuse={"throttle_at": 1, "ban_at": 2},
                                       events={"text": "full"}), Metrics())
    try:
        identifier = Identifier(layer.principal_secret)
        principal = identifier.caller(config(), HEADERS, BODY, NOW).principal
        for _ in range(3):
            await layer.gate.record(outcome(principal.key_hash, "block",
                                            texts={"input": ["a rude message"]}))
            await layer.gate.admit(principal)
        layer.cache.put_many("tox", "v1", ["a rude message"], [{"bad": 1.0}])
        await layer.flush()
        stored = redis_server.dump()
        assert len(stored) >= 3, stored.keys()
        everything = repr(stored)
        assert principal.key_hash is not None and principal.key_hash in everything
        assert API_KEY not in everything and "TOPSECRET" not in everything
    finally:
        await layer.close()


async def test_every_redis_key_has_a_ttl_or_a_bound(redis_server: RedisServer) -> None:
    layer = await start_state(settings(redis_server.url, abuse={"throttle_at": 2, "ban_at": 4}),
                              Metrics())
    try:
        for principal in ("a1" * 32, "b2" * 32):
            for _ in range(4):
                await layer.gate.record(outcome(principal, "flag"))
        for _ in range(2):  # throttled, not banned
            await layer.gate.record(outcome("c3" * 32, "flag"))
        layer.cache.put_many("tox", "v1", ["x"], [{"bad": 0.0}])
        await layer.flush()
        client = redis_server.client()
        kinds = {key: client.type(key) for key in client.scan_iter()}
        assert {k.split(":")[1] for k in kinds} == {"strikes", "ban", "bans", "events",
                                                    "verdict", "throttle"}
        for key, kind in kinds.items():
            if kind == "stream":
                assert key.split(":")[1] == "events"  # bounded by MAXLEN ~ on every XADD
            else:
                assert client.pttl(key) > 0, key
    finally:
        await layer.close()


@pytest.mark.parametrize("headers", [
    {"Authorization": f"Bearer {API_KEY}", "x-api-key": "sk-throwaway"},
    {"x-api-key": API_KEY, "api-key": "sk-other"},
])
def test_several_credentials_are_refused(headers) -> None:
    with pytest.raises(BadRequest, match="more than one credential"):
        caller(config(), headers, None)


def test_two_authorization_headers_are_refused_and_one_key_twice_is_fine() -> None:
    twice = CIMultiDict([("Authorization", "Bearer sk-throwaway"),
                         ("Authorization", f"Bearer {API_KEY}")])
    with pytest.raises(BadRequest):
        caller(config(), twice, None)
    same = CIMultiDict([("Authorization", f"Bearer {API_KEY}"), ("x-api-key", API_KEY)])
    assert caller(config(), same, None).principal.source == "api_key"
    blank = CIMultiDict([("Authorization", "Bearer "), ("x-api-key", API_KEY), ("api-key", "")])
    assert caller(config(), blank, None).principal == caller(config(), {"x-api-key": API_KEY},
                                                             None).principal, "blank ones: none"
    third = CIMultiDict([("x-api-key", API_KEY), ("api-key", API_KEY),
                         ("Authorization", "Bearer sk-third")])
    with pytest.raises(BadRequest):
        caller(config(), third, None)
