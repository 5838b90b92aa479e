"""Every bad input gets a clear OpenAI-style error, and the proxy keeps serving after it."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.support.ports import free_port
from tests.support.upstream import FakeUpstream, Raw, Stream, sse_chunks

CLEAN = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


async def post(base: str, data: bytes | None = None, json=None, headers=None):
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/v1/chat/completions", data=data, json=json,
                                headers=headers) as response:
            return response.status, await response.json(content_type=None), response.headers


async def metric(base: str, line_start: str) -> float:
    async with aiohttp.ClientSession() as session, session.get(f"{base}/metrics") as response:
        for line in (await response.text()).splitlines():
            if line.startswith(line_start):
                return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no metric line {line_start}")


async def still_serves(base: str) -> None:
    status, body, _ = await post(base, json=CLEAN)
    assert status == 200, body
    assert body["choices"][0]["message"]["content"] == "Hello there!"


@pytest.mark.parametrize(("payload", "param", "fragment"), [
    (b"{not json", None, "not valid JSON"),
    (b"[1, 2]", None, "must be a JSON object"),
    (b'{"model": "m"}', "messages", "'messages' is a required property"),
    (b'{"model": "m", "messages": "hi"}', "messages", "non-empty array"),
    (b'{"model": "m", "messages": []}', "messages", "non-empty array"),
    (b'{"model": "m", "messages": [{"content": "x"}]}', "messages[0]", "'role' string"),
    (b'{"model": "m", "messages": [{"role": "user", "content": 5}]}', "messages[0].content",
     "string or an array"),
    (b'{"model": "m", "stream": "yes", "messages": [{"role": "user", "content": "x"}]}',
     "stream", "boolean"),
    (b'{"model": "m", "messages": [{"role": "user", "content": "\xff\xfe"}]}', None, "UTF-8"),
])
async def test_malformed_requests_get_400(start_proxy, fake_upstream, payload, param, fragment):
    base, _ = await start_proxy()
    status, body, headers = await post(base, data=payload,
                                       headers={"Content-Type": "application/json"})
    assert status == 400
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["param"] == param
    assert fragment in body["error"]["message"]
    assert headers["x-request-id"]
    assert fake_upstream.requests == []
    assert await metric(base, 'safety_proxy_errors_total{kind="bad_request"}') == 1
    await still_serves(base)


async def test_body_over_limit_gets_413(start_proxy, fake_upstream):
    base, _ = await start_proxy(server={"max_body_bytes": 1000})
    big = {"model": "m", "messages": [{"role": "user", "content": "x" * 2000}]}
    status, body, _ = await post(base, json=big)
    assert (status == 413 and "limit of 1000 bytes" in body["error"]["message"]) or \
        "limit is 1000" in body["error"]["message"]
    assert fake_upstream.requests == []
    await still_serves(base)


async def test_chunked_body_over_limit_gets_413(start_proxy):
    base, _ = await start_proxy(server={"max_body_bytes": 1000})

    async def chunks():
        for _ in range(10):
            yield b" " * 500

    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/v1/chat/completions", data=chunks()) as response:
            assert response.status == 413
    await still_serves(base)


@pytest.mark.parametrize(("answer", "status", "fragment"), [
    (Raw(200, b"<html>oops</html>", "text/html"), 502, "non-JSON body"),
    (Raw(200, b"\x00\x01garbage", "application/octet-stream"), 502, "non-JSON body"),
])
async def test_broken_upstream_answers_get_502(start_proxy, fake_upstream, answer, status,
                                               fragment):
    fake_upstream.answer = lambda body: answer
    base, _ = await start_proxy()
    got_status, body, _ = await post(base, json=CLEAN)
    assert got_status == status
    assert fragment in body["error"]["message"]
    assert body["error"]["type"] == "upstream_error"


async def test_upstream_openai_error_is_relayed_with_status(start_proxy, fake_upstream):
    error = b'{"error": {"message": "Rate limit reached", "type": "requests", "code": "rate"}}'
    fake_upstream.answer = lambda body: Raw(429, error)
    base, _ = await start_proxy()
    status, body, headers = await post(base, json=CLEAN)
    assert status == 429
    assert body["error"]["message"] == "Rate limit reached"
    assert headers["x-safety-decision"] == "allow"


async def test_unreachable_upstream_gets_502(serve_app, tmp_path):
    from proxy.app import create_app
    from proxy.config.loader import parse
    from tests.conftest import proxy_config, write_config

    path = write_config(tmp_path / "p.yaml", proxy_config(f"http://127.0.0.1:{free_port()}"))
    base = await serve_app(create_app(parse(path.read_bytes(), str(path))))
    status, body, _ = await post(base, json=CLEAN)
    assert status == 502
    assert "cannot reach the upstream" in body["error"]["message"]
    assert await metric(base, 'safety_proxy_errors_total{kind="upstream_unreachable"}') == 1


async def test_upstream_timeout_gets_504(start_proxy, fake_upstream):
    fake_upstream.delay_s = 3
    base, _ = await start_proxy(upstream={"read_timeout_s": 0.3})
    status, body, _ = await post(base, json=CLEAN)
    assert status == 504
    assert body["error"]["type"] == "upstream_error"


async def test_upstream_dropping_mid_stream_gives_inband_error_then_done(start_proxy,
                                                                         fake_upstream):
    chunks = sse_chunks([f"w{i} " for i in range(40)])
    fake_upstream.answer = lambda body: Stream(chunks, drop_after=25)
    base, _ = await start_proxy(streaming={"mode": "low_latency"})
    async with aiohttp.ClientSession() as session, session.post(f"{base}/v1/chat/completions",
                            json={**CLEAN, "stream": True}) as response:
        assert response.status == 200
        text = (await response.read()).decode()
    events = [e for e in text.split("\n\n") if e]
    assert events[-1] == "data: [DONE]"
    assert '"code":"upstream_stream_broken"' in events[-2]
    assert await metric(base, 'safety_proxy_errors_total{kind="upstream_stream_broken"}') == 1
    fake_upstream.answer = FakeUpstream().answer
    await still_serves(base)


async def test_client_disconnect_mid_stream_cancels_upstream(start_proxy,
                                                             fake_upstream: FakeUpstream):
    chunks = sse_chunks([f"w{i} " for i in range(400)])
    fake_upstream.answer = lambda body: Stream(chunks, delay_s=0.01)
    base, _ = await start_proxy(streaming={"mode": "low_latency"})
    async with aiohttp.ClientSession() as session, session.post(f"{base}/v1/chat/completions",
                            json={**CLEAN, "stream": True}) as response:
        await response.content.readany()  # the stream has started
    await asyncio.wait_for(fake_upstream.disconnected.wait(), timeout=5)
    assert fake_upstream.disconnected.is_set()  # the proxy closed the upstream stream
    fake_upstream.answer = FakeUpstream().answer
    await still_serves(base)


@pytest.mark.parametrize(("fail", "on_error", "status"), [
    ("raise", "fail_open", 200), ("hang", "fail_open", 200),
    ("raise", "fail_closed", 400), ("hang", "fail_closed", 400),
])
async def test_failing_classifier_follows_on_error(start_proxy, fake_upstream, fail, on_error,
                                                   status):
    broken = {"name": "broken", "type": "scripted", "timeout_s": 0.2, "on_error": on_error,
              "options": {"labels": ["bad"], "fail": fail}}
    good = {"name": "script", "type": "scripted", "options": {"labels": ["bad", "meh"]}}
    base, _ = await start_proxy(checks=[good, broken])
    got, body, headers = await post(base, json=CLEAN)
    assert got == status
    kind = "timeout" if fail == "hang" else "error"
    assert await metric(
        base, f'safety_proxy_check_outcomes_total{{classifier="broken",outcome="{kind}"}}') >= 1
    assert await metric(
        base, 'safety_proxy_check_outcomes_total{classifier="script",outcome="ok"}') >= 1
    if on_error == "fail_closed":
        assert body["safety"]["reasons"][0] == {"classifier": "broken", "label": kind,
                                                "score": None, "threshold": None,
                                                "action": "block"}
        assert fake_upstream.requests == []
    else:
        assert await metric(base, 'safety_proxy_fail_open_total{classifier="broken"}') >= 1


async def test_unknown_route_outside_v1_is_json_404(start_proxy):
    base, _ = await start_proxy()
    async with aiohttp.ClientSession() as session, session.get(f"{base}/nope") as response:
        assert response.status == 404
        assert (await response.json())["error"]["code"] == "unknown_url"


async def test_client_disconnect_before_answer_cancels_upstream(start_proxy, fake_upstream):
    fake_upstream.delay_s = 5
    base, _ = await start_proxy(upstream={"read_timeout_s": 30})
    async with aiohttp.ClientSession() as session:
        with pytest.raises(TimeoutError):
            async with session.post(f"{base}/v1/chat/completions", json=CLEAN,
                                    timeout=aiohttp.ClientTimeout(total=0.3)):
                pass
    await asyncio.wait_for(fake_upstream.disconnected.wait(), timeout=5)
    fake_upstream.delay_s = 0
    await still_serves(base)
