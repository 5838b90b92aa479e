"""Routing cannot be tricked: every spelling of a path either reaches the route it names,
validated, or is refused before anything reaches the upstream; nothing leaves base_url;
redirects are never followed; paths outside the allow-list are 404; forwarded paths are
recorded as unchecked."""

from __future__ import annotations

from dataclasses import dataclass, field

import aiohttp
import orjson
import pytest
from aiohttp import web

from tests.conftest import proxy_config, write_config
from tests.support.raw_http import raw_request
from tests.support.upstream import completion

OFFENSIVE = orjson.dumps({"model": "m", "messages": [{"role": "user", "content": "BADWORD"}]})
CLEAN = orjson.dumps({"model": "m", "messages": [{"role": "user", "content": "hello"}]})


@dataclass
class RecordingUpstream:
    """Records every request (method, raw path with query, body); answers chat with a
    completion, a trailing-slash chat path with a 307 (to test that it is not followed),
    and anything else with a small JSON echo."""

    seen: list[tuple[str, str, bytes]] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._any)
        return app

    async def _any(self, request: web.Request) -> web.Response:
        self.seen.append((request.method, request.raw_path, await request.read()))
        if "/redirect-me/" in request.raw_path:
            raise web.HTTPTemporaryRedirect("/v1/chat/completions")
        if request.path.endswith("chat/completions"):
            return web.json_response(completion("Hello there!"))
        return web.json_response({"object": "list", "data": []})


@pytest.fixture
async def routed(serve_app, tmp_path):
    """start(base_path="/v1", **sections) -> (proxy URL, recording upstream)."""
    async def start(base_path: str = "/v1", **sections) -> tuple[str, RecordingUpstream]:
        from proxy.app import create_app
        from proxy.config.loader import parse

        upstream = RecordingUpstream()
        url = await serve_app(upstream.app())
        config = proxy_config(url, **sections)
        config["upstream"]["base_url"] = f"{url}{base_path}"
        path = write_config(tmp_path / "proxy.yaml", config)
        return await serve_app(create_app(parse(path.read_bytes(), str(path)))), upstream
    return start


TRICKS = [  # (method, raw path, expected status): none may reach the upstream
    ("POST", "/v1//chat/completions", 400),
    ("POST", "//v1/chat/completions", 400),
    ("POST", "/v1/./chat/completions", 400),
    ("POST", "/v1/x/../chat/completions", 400),
    ("POST", "/v1/chat/./completions", 400),
    ("POST", "/v1/chat%2Fcompletions", 400),
    ("POST", "/v1/chat%2fcompletions", 400),
    ("POST", "/v1/%63hat/completions", 400),
    ("POST", "/v1/chat/completions%00", 400),
    ("POST", "/v1/chat/completions/", 400),
    ("POST", "/v1/chat\\completions", 400),
    ("POST", "/v1/chat/%2e%2e/chat/completions", 400),
    ("GET", "/v1/../../../../internal/admin", 400),
    ("GET", "/v1/%2e%2e/%2e%2e/internal/admin", 400),
    ("GET", "/v1/models/..%2f..%2finternal", 400),
    ("POST", "/V1/chat/completions", 404),
    ("POST", "/v1/chat/completions;x", 404),
    ("POST", "/v1/chat/completions/x", 404),
    ("POST", "/v2/chat/completions", 404),
    ("POST", "/chat/completions", 404),
    ("GET", "/v1/chat/completions", 404),  # stored completions: model output, unmoderated
    ("GET", "/v1/responses/resp_123", 404),  # a stored response: model output, unmoderated
    ("POST", "/v1/responses/resp_123/cancel", 404),
    ("POST", "/v1/files", 404),
    ("POST", "/v1/batches", 404),  # a batch would run prompts unmoderated
    ("POST", "/v1/threads/runs", 404),
    ("DELETE", "/v1/models/m", 404),
    ("POST", "/openai/deployments/a/../b/chat/completions", 400),
]


@pytest.mark.parametrize(("method", "raw_path", "status"), TRICKS)
async def test_no_path_spelling_reaches_the_upstream_unmoderated(routed, method, raw_path,
                                                                  status):
    base, upstream = await routed()
    got, body = await raw_request(base, method, raw_path, OFFENSIVE)
    assert got == status
    assert body is not None and body["error"]["code"] in ("invalid_path", "unknown_url")
    assert "BADWORD" not in orjson.dumps(body).decode()
    assert upstream.seen == []


async def test_the_plain_path_is_moderated_and_a_clean_request_forwarded(routed):
    base, upstream = await routed()
    assert (await raw_request(base, "POST", "/v1/chat/completions", OFFENSIVE))[0] == 400
    assert upstream.seen == []
    status, body = await raw_request(base, "POST", "/v1/chat/completions", CLEAN)
    assert status == 200 and body is not None and body["choices"]
    assert [(m, p) for m, p, _ in upstream.seen] == [("POST", "/v1/chat/completions")]


async def test_no_request_names_a_path_outside_base_url_and_the_key_stays_home(routed,
                                                                               monkeypatch):
    monkeypatch.setenv("ROUTING_TEST_KEY", "sk-operator-secret")
    base, upstream = await routed("/openai/deployments/a/v1",
                                  upstream={"api_key_env": "ROUTING_TEST_KEY"},
                                  auth={"mode": "none", "allow_open_relay": True})
    for raw_path in ("/v1/../../../../internal/admin", "/v1/..%2F..%2Fdeployments/b/v1/models",
                     "/v1/%2E%2E/%2E%2E/b/v1/models"):
        assert (await raw_request(base, "GET", raw_path))[0] == 400
    assert upstream.seen == []
    status, _ = await raw_request(base, "GET", "/v1/models")
    assert status == 200
    assert [(m, p) for m, p, _ in upstream.seen] == [("GET", "/openai/deployments/a/v1/models")]


async def test_redirects_from_the_upstream_are_never_followed(routed):
    base, upstream = await routed("/v1/redirect-me")
    status, body = await raw_request(base, "POST", "/v1/chat/completions", CLEAN)
    assert status == 502 and body is not None and body["error"]["type"] == "upstream_error"
    assert len(upstream.seen) == 1  # the body was not re-sent to the redirect's target


async def test_azure_paths_reach_the_chat_dialect_with_their_query(routed):
    base, upstream = await routed("/openai")
    path = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
    status, body = await raw_request(base, "POST", path, OFFENSIVE)
    assert status == 400 and body is not None and body["error"]["code"] == "content_filter"
    assert upstream.seen == []
    status, _ = await raw_request(base, "POST", path, CLEAN)
    assert status == 200
    assert upstream.seen[0][1] == path  # same path under base_url, query as sent


async def test_allow_listed_paths_are_forwarded_and_recorded_as_unchecked(routed):
    base, upstream = await routed()
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/v1/models?limit=2",
                               headers={"Authorization": "Bearer sk-client"}) as response:
            assert response.status == 200
            assert response.headers["x-safety-decision"] == "unchecked"
        async with session.get(f"{base}/v1/models/gpt-4o") as response:
            assert response.status == 200
        async with session.get(f"{base}/metrics") as response:
            metrics = await response.text()
    assert [(m, p, b) for m, p, b in upstream.seen] == [
        ("GET", "/v1/models?limit=2", b""), ("GET", "/v1/models/gpt-4o", b"")]
    assert 'safety_proxy_requests_total{decision="unchecked",route="passthrough"} 2.0' in metrics
    assert 'safety_proxy_requests_total{decision="allow",route="passthrough"} 0.0' in metrics


async def test_an_empty_allow_list_forwards_nothing(routed):
    base, upstream = await routed(routes={"forward": []})
    status, body = await raw_request(base, "GET", "/v1/models")
    assert status == 404 and body is not None and body["error"]["code"] == "unknown_url"
    assert upstream.seen == []


@pytest.mark.parametrize("rule", ["models", "GET /models", "FETCH models", "GET  models"])
def test_a_malformed_forward_rule_is_a_config_error(tmp_path, rule):
    from proxy.config.loader import ConfigError, parse

    path = write_config(tmp_path / "p.yaml", proxy_config("http://127.0.0.1:9",
                                                          routes={"forward": [rule]}))
    with pytest.raises(ConfigError, match="METHOD path-glob"):
        parse(path.read_bytes(), str(path))


@pytest.mark.parametrize("stream", [False, True])
async def test_upstream_rate_limit_and_timing_headers_reach_the_client(start_proxy,
                                                                      fake_upstream, stream):
    from tests.support.upstream import Stream, sse_chunks

    fake_upstream.response_headers = {"x-ratelimit-remaining-requests": "99",
                                      "openai-processing-ms": "12",
                                      "X-Safety-Decision": "forged"}
    if stream:
        fake_upstream.answer = lambda body: Stream(sse_chunks(["Hello", " there"]))
    base, _ = await start_proxy()
    body = {"model": "m", "stream": stream, "messages": [{"role": "user", "content": "hi"}]}
    async with aiohttp.ClientSession() as session, session.post(
            f"{base}/v1/chat/completions", json=body) as response:
        assert response.status == 200
        await response.read()
        assert response.headers["x-ratelimit-remaining-requests"] == "99"
        assert response.headers["openai-processing-ms"] == "12"
        assert response.headers.getall("x-safety-decision") == ["allow"]  # never the upstream's


async def test_embeddings_inputs_are_moderated(routed):
    """What an application embeds is what it later retrieves into a prompt."""
    base, upstream = await routed()
    for body in ({"model": "e", "input": "BADWORD"}, {"model": "e", "input": ["ok", "BADWORD"]}):
        status, answer = await raw_request(base, "POST", "/v1/embeddings", orjson.dumps(body))
        assert status == 400 and answer is not None
        assert answer["error"]["code"] == "content_filter" and answer["error"]["param"] == "input"
    assert upstream.seen == []
    status, _ = await raw_request(base, "POST", "/v1/embeddings",
                                  orjson.dumps({"model": "e", "input": ["a", "b"]}))
    assert status == 200 and [p for _, p, _ in upstream.seen] == ["/v1/embeddings"]


async def test_a_second_credential_cannot_ride_behind_a_throwaway_key(start_proxy,
                                                                     fake_upstream):
    """Only one credential could identify the principal while both reach the upstream."""
    from multidict import CIMultiDict

    base, _ = await start_proxy()
    headers = CIMultiDict([("Authorization", "Bearer sk-throwaway"),
                           ("Authorization", "Bearer sk-banned")])
    async with aiohttp.ClientSession() as session, session.post(
            f"{base}/v1/chat/completions", headers=headers,
            json={"model": "m", "messages": [{"role": "user", "content": "hi"}]}) as response:
        assert response.status == 400
        body = await response.json()
    assert body["error"]["code"] == "several_credentials"
    assert "sk-" not in str(body)
    assert fake_upstream.requests == []


@pytest.mark.parametrize(("api_path", "body"), [
    ("responses", {"model": "m", "input": "BADWORD"}),
    ("completions", {"model": "m", "prompt": "BADWORD"}),
    ("embeddings", {"model": "m", "input": "BADWORD"}),
])
async def test_azure_paths_reach_every_dialect(routed, api_path, body):
    base, upstream = await routed("/openai")
    path = f"/openai/deployments/gpt-4o/{api_path}?api-version=2025-04-01-preview"
    status, answer = await raw_request(base, "POST", path, orjson.dumps(body))
    assert status == 400 and answer is not None
    assert answer["error"]["code"] == "content_filter"
    assert upstream.seen == []
