"""Health, readiness and metrics routes; the upstream key and headers (routing: test_routing.py)."""

from __future__ import annotations

import aiohttp
import pytest


async def test_health_ready_and_metrics(start_proxy):
    base, _ = await start_proxy()
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/healthz") as response:
            assert (await response.json()) == {"status": "ok"}
        async with session.get(f"{base}/readyz") as response:
            body = await response.json()
            assert response.status == 200 and body["checks"] == ["script"]
        async with session.get(f"{base}/metrics") as response:
            text = await response.text()
    assert 'safety_proxy_requests_total{decision="allow",route="chat_completions"} 0.0' in text
    assert 'safety_proxy_classifier_score_bucket{classifier="script",direction="input"' in text
    assert "safety_proxy_config_info{sha256=" in text


# Where the operator's key goes, not who may use it (that is tests/e2e/test_auth.py).
OPEN_RELAY = {"mode": "none", "allow_open_relay": True}

async def test_configured_api_key_and_headers_replace_the_clients(start_proxy, fake_upstream,
                                                                  monkeypatch):
    monkeypatch.setenv("TEST_UPSTREAM_KEY", "sk-upstream-secret")
    base, _ = await start_proxy(upstream={"api_key_env": "TEST_UPSTREAM_KEY",
                                          "headers": {"OpenAI-Organization": "org-1"}},
                                auth=OPEN_RELAY)
    async with aiohttp.ClientSession() as session, session.post(f"{base}/v1/chat/completions",
                            headers={"Authorization": "Bearer sk-client"},
                            json={"model": "m", "messages": [
                                {"role": "user", "content": "hi"}]}) as response:
        assert response.status == 200
    sent = fake_upstream.headers[0]
    assert sent["Authorization"] == "Bearer sk-upstream-secret"
    assert sent["OpenAI-Organization"] == "org-1"


async def test_batch_sizes_of_batching_checks_are_observed(serve_app, fake_upstream, tmp_path):
    from proxy.app import create_app
    from proxy.config.loader import parse
    from tests.conftest import proxy_config, write_config

    upstream_url = await serve_app(fake_upstream.app())
    config = proxy_config(upstream_url, checks=[{"name": "tox", "type": "profanity"}],
                          policy={"input": {}, "output": {}, "toxic_labels": ["tox.profane"]})
    path = write_config(tmp_path / "p.yaml", config)
    base = await serve_app(create_app(parse(path.read_bytes(), str(path))))
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/v1/chat/completions", json={
                "model": "m", "messages": [{"role": "user", "content": "hello"}]}) as response:
            assert response.status == 200
        async with session.get(f"{base}/metrics") as response:
            text = await response.text()
    assert 'safety_proxy_classifier_batch_size_count{classifier="tox"} 2.0' in text  # in, out


async def test_readiness_lists_checks_per_direction_and_warns_of_an_unmoderated_one(
        start_proxy, capsys):
    config_checks = [{"name": "script", "type": "scripted", "directions": ["input"],
                      "options": {"labels": ["bad"], "triggers": {"BADWORD": {"bad": 1.0}}}}]
    base, _ = await start_proxy(checks=config_checks, policy={
        "input": {"script": {"bad": {"block": 0.9}}}, "output": {},
        "toxic_labels": [], "refusal_label": None})
    async with aiohttp.ClientSession() as session, session.get(f"{base}/readyz") as response:
        body = await response.json()
    assert body["checks_by_direction"] == {"input": ["script"], "output": []}
    logged = capsys.readouterr().out
    assert "no_checks" in logged and "output" in logged


@pytest.mark.parametrize(("header", "sent"), [
    ("Authorization", "Bearer sk-operator"), ("x-api-key", "sk-operator"),
    ("api-key", "sk-operator")])
async def test_the_operators_key_goes_where_the_upstream_reads_it_and_alone(
        start_proxy, fake_upstream, header, sent):
    base, _ = await start_proxy(upstream={"api_key": "sk-operator", "api_key_header": header},
                                auth=OPEN_RELAY)
    client_credentials = {"Authorization": "Bearer sk-client", "x-api-key": "sk-client",
                          "api-key": "sk-client"}
    async with aiohttp.ClientSession() as session, session.post(
            f"{base}/v1/chat/completions", headers=client_credentials,
            json={"model": "m", "messages": [{"role": "user", "content": "hi"}]}) as response:
        assert response.status == 200
    received = {k.lower(): v for k, v in fake_upstream.headers[0].items()}
    assert received[header.lower()] == sent
    assert "sk-client" not in str(received)


async def test_cookies_the_upstream_sets_never_reach_another_clients_request(
        serve_app, fake_upstream, tmp_path):
    """The upstream connection pool is shared by every client: a cookie the upstream set
    on one client's answer (a CDN's bot-management cookie, a session) must not ride along
    on the next client's request. Each client's own Cookie header is theirs to send."""
    from proxy.app import create_app
    from proxy.config.loader import parse
    from tests.conftest import proxy_config, write_config

    fake_upstream.response_headers = {"Set-Cookie": "__cf_bm=client-a-session; Path=/"}
    upstream_url = await serve_app(fake_upstream.app())
    # a host name, not an address: cookie jars keep no cookie an IP address sets
    config = proxy_config(upstream_url.replace("127.0.0.1", "localhost"), auth=OPEN_RELAY)
    path = write_config(tmp_path / "p.yaml", config)
    base = await serve_app(create_app(parse(path.read_bytes(), str(path))))
    chat = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    for cookie in (None, "theme=dark"):  # client A, then client B on a connection of its own
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
            headers = {"Cookie": cookie} if cookie else {}
            async with session.post(f"{base}/v1/chat/completions", json=chat,
                                    headers=headers) as response:
                assert response.status == 200
                assert "client-a-session" in response.headers.get("Set-Cookie", "")
    first, second = ({k.lower(): v for k, v in sent.items()} for sent in fake_upstream.headers)
    assert "cookie" not in first
    assert second.get("cookie") == "theme=dark"
