"""Principals: sources in configured order, keyed hashes only, never the raw value stored."""

from __future__ import annotations

import pytest

from proxy.observability.metrics import Metrics
from proxy.pipeline.identify import Identifier, bearer_token
from proxy.state.factory import build_state, start_state
from proxy.state.settings import IdentityConfig
from tests.state.conftest import RedisServer
from tests.state.helpers import outcome, settings

API_KEY = "sk-live-TOPSECRET-0123456789"
HEADERS = {"Authorization": f"Bearer {API_KEY}", "x-safety-principal": "tenant-user-9"}
BODY = {"model": "m", "user": "end-user-42"}


def identifier(*sources: str, secret: bytes = b"s3cret") -> Identifier:
    return Identifier(IdentityConfig(sources=sources), secret)  # type: ignore[arg-type]


@pytest.mark.parametrize(("sources", "expected"), [
    (("api_key", "user", "header"), "api_key"),
    (("user", "api_key"), "user"),
    (("header", "user"), "header"),
])
def test_the_first_configured_source_present_wins(sources, expected) -> None:
    principal = identifier(*sources).identify(HEADERS, BODY)
    assert principal.source == expected
    value = {"api_key": API_KEY, "user": "end-user-42", "header": "tenant-user-9"}[expected]
    assert principal.key_hash == identifier().hash(expected, value)


@pytest.mark.parametrize("headers", [{"x-api-key": API_KEY}, {"X-Api-Key": API_KEY},
                                     {"api-key": f" {API_KEY} "}])
def test_a_key_is_one_principal_whichever_header_carries_it(headers) -> None:
    """Anthropic clients send x-api-key, Azure clients api-key: never anonymous."""
    ident = identifier("api_key")
    bearer = ident.identify({"Authorization": f"Bearer {API_KEY}"}, None)
    assert ident.identify(headers, None) == bearer
    assert bearer.source == "api_key" and bearer.key_hash is not None


def test_missing_sources_fall_through_to_anonymous() -> None:
    ident = identifier("api_key", "user", "header")
    assert ident.identify({}, {"user": "  "}).source == "anonymous"
    assert ident.identify({"Authorization": "Basic abc"}, None).key_hash is None
    assert ident.identify({}, {"user": "u1"}).source == "user"
    assert identifier("user").identify(HEADERS, {"user": 42}).source == "anonymous"


def test_hashes_are_keyed_hex_and_separate_sources() -> None:
    one, other = identifier(secret=b"one"), identifier(secret=b"two")
    digest = one.hash("api_key", API_KEY)
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert API_KEY not in digest
    assert digest != other.hash("api_key", API_KEY), "another secret, another principal"
    assert digest != one.hash("user", API_KEY), "a user id equal to a key is not that key"
    assert digest == one.hash("api_key", API_KEY), "stable across replicas"


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
        principal = layer.identifier.identify(HEADERS, BODY)
        for _ in range(3):
            await layer.gate.record(outcome(principal.key_hash, "block",
                                            texts={"input": ["a rude message"]}))
            await layer.gate.admit(principal)
        await layer.cache.put_many("tox", "v1", ["a rude message"], [{"bad": 1.0}])
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
        await layer.cache.put_many("tox", "v1", ["x"], [{"bad": 0.0}])
        await layer.flush()
        client = redis_server.client()
        kinds = {key: client.type(key) for key in client.scan_iter()}
        assert {k.split(":")[1] for k in kinds} == {"strikes", "ban", "bans", "events",
                                                    "verdict", "throttle"}
        for key, kind in kinds.items():
            if kind == "stream":
                assert key.endswith(":events")  # bounded by MAXLEN ~ on every XADD
            else:
                assert client.pttl(key) > 0, key
    finally:
        await layer.close()


@pytest.mark.parametrize("headers", [
    {"Authorization": f"Bearer {API_KEY}", "x-api-key": "sk-throwaway"},
    {"x-api-key": API_KEY, "api-key": "sk-other"},
])
def test_several_credentials_are_refused(headers) -> None:
    from proxy.protocol.errors import BadRequest

    with pytest.raises(BadRequest, match="more than one credential"):
        identifier("api_key").identify(headers, None)


def test_two_authorization_headers_are_refused_and_one_key_twice_is_fine() -> None:
    from multidict import CIMultiDict

    from proxy.protocol.errors import BadRequest

    twice = CIMultiDict([("Authorization", "Bearer sk-throwaway"),
                         ("Authorization", f"Bearer {API_KEY}")])
    with pytest.raises(BadRequest):
        identifier("api_key").identify(twice, None)
    same = CIMultiDict([("Authorization", f"Bearer {API_KEY}"), ("x-api-key", API_KEY)])
    assert identifier("api_key").identify(same, None).source == "api_key"
