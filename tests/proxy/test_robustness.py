"""Malformed, hostile and unlucky traffic (found by fuzzing): deep JSON, slow clients, requests
the HTTP parser refuses, clients that leave early, upstream errors of any shape, an upstream
that is down. Each gets a clear answer in the API's error format (or a closed connection),
is recorded, echoes nothing it was sent, and leaves the proxy serving."""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import aiohttp
import orjson
import pytest
from aiohttp import web
from multidict import CIMultiDict
from structlog.testing import capture_logs

from tests.proxy.routes.test_bad_input import CLEAN, metric, still_serves
from tests.support.ports import free_port
from tests.support.tls import self_signed, server_context
from tests.support.upstream import Raw, Stream, completion, sse_chunks

MARKER = "QQMARKERQQ"  # sent in the bad part of a request; must never come back


async def post(base: str, path: str, payload: bytes) -> tuple[int, dict, CIMultiDict[str]]:
    async with aiohttp.ClientSession() as session, session.post(
            f"{base}{path}", data=payload,
            headers={"Content-Type": "application/json"}) as response:
        return response.status, await response.json(content_type=None), response.headers.copy()


async def exchange(base: str, data: bytes, timeout: float = 5) -> bytes:
    """Sends raw bytes on a new connection; everything the proxy sent until it closed."""
    where = urlsplit(base)
    reader, writer = await asyncio.open_connection(where.hostname, where.port)
    writer.write(data)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()


def parse_response(raw: bytes) -> tuple[int, bytes, dict]:
    """(status, head, JSON body) of one HTTP response with a Content-Length."""
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), head.lower(), orjson.loads(body)


async def until(condition: Callable[[], bool], timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.02)


def request_lines(logs: list[dict]) -> list[dict]:
    return [entry for entry in logs if entry["event"] == "request"]


# --- 1. deep JSON ------------------------------------------------------------------------

def nested(depth: int) -> bytes:
    """A JSON value of ``depth`` levels of objects (a JSON Schema, so a definition the
    dialect reads accepts it), written by hand: orjson cannot write one past 255 levels."""
    return b'{"type": "array", "items": ' * (depth - 1) + b'{"type": "string"}' \
        + b"}" * (depth - 1)


def with_value(request: dict, value: bytes) -> bytes:
    """``request`` as JSON with its ``"DEEP"`` placeholder replaced by ``value``."""
    return orjson.dumps(request).replace(b'"DEEP"', value)


def tool(parameters: str) -> dict:
    return {"type": "function", "function": {"name": "f", "parameters": parameters}}


DIALECTS = {  # path: (a request with DEEP in a field the dialect reads, in one it skips)
    "/v1/chat/completions": (
        {"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": [tool("DEEP")]},
        {"model": "m", "messages": [{"role": "user", "content": "hi"}], "metadata": "DEEP"}),
    "/v1/responses": (
        {"model": "m", "input": "hi", "tools": [{"type": "function", "name": "f",
                                                 "parameters": "DEEP"}]},
        {"model": "m", "input": "hi", "metadata": "DEEP"}),
    "/v1/completions": ({"model": "m", "prompt": ["DEEP"]},
                        {"model": "m", "prompt": "hi", "metadata": "DEEP"}),
    "/v1/messages": (
        {"model": "c", "max_tokens": 9, "messages": [{"role": "user", "content": [
            {"type": "tool_use", "id": "t", "name": "f", "input": "DEEP"}]}]},
        {"model": "c", "max_tokens": 9, "messages": [{"role": "user", "content": "hi"}],
         "metadata": "DEEP"}),
    "/v1/embeddings": ({"model": "m", "input": ["DEEP"]},
                       {"model": "m", "input": "hi", "metadata": "DEEP"}),
    "/v1/moderations": ({"input": ["DEEP"]}, {"input": "hi", "metadata": "DEEP"}),
}


def test_nested_builds_the_depth_it_says():
    def depth(value) -> int:
        children = value.values() if isinstance(value, dict) else []
        return 1 + max((depth(child) for child in children if isinstance(child, dict)),
                       default=0)
    assert [depth(orjson.loads(nested(d))) for d in (1, 2, 30, 31, 100)] == [1, 2, 30, 31, 100]


@pytest.mark.parametrize("path", sorted(DIALECTS))
@pytest.mark.parametrize("walked", [True, False], ids=["walked", "unwalked"])
async def test_deep_json_is_a_400_before_anything_is_forwarded(start_proxy, fake_upstream,
                                                               path, walked):
    base, _ = await start_proxy()
    request = DIALECTS[path][0 if walked else 1]
    for depth in (100, 300, 1000):
        status, body, _ = await post(base, path, with_value(request, nested(depth)))
        assert status == 400, (depth, body)
        error = body["error"]
        assert error["type"] == "invalid_request_error"
        assert "nested deeper than 64 levels" in error["message"]
        if path != "/v1/messages":  # Anthropic's error object has no param
            assert error["param"] is None
    assert fake_upstream.requests == []
    assert await metric(base, 'safety_proxy_errors_total{kind="bad_request"}') == 3
    assert await metric(base, 'safety_proxy_errors_total{kind="internal"}') == 0


@pytest.mark.parametrize("path", sorted(DIALECTS))
async def test_json_nested_30_levels_is_still_accepted(start_proxy, fake_upstream, path):
    base, _ = await start_proxy()
    readable = path in ("/v1/chat/completions", "/v1/responses", "/v1/messages")
    request = DIALECTS[path][0 if readable else 1]
    status, body, _ = await post(base, path, with_value(request, nested(30)))
    assert status == 200, body
    if path != "/v1/moderations":  # served by the proxy itself
        assert len(fake_upstream.requests) + len(fake_upstream.headers) >= 1


# --- 2. slow clients ---------------------------------------------------------------------

SLOW = {"server": {"header_read_timeout_s": 0.3, "body_read_timeout_s": 0.3}}


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> bytes:
    """What the proxy sent before it closed the connection (it must close in time)."""
    return await asyncio.wait_for(reader.read(), seconds)


async def test_half_a_request_line_is_closed_and_counted(start_proxy):
    base, _ = await start_proxy(**SLOW)
    where = urlsplit(base)
    reader, writer = await asyncio.open_connection(where.hostname, where.port)
    writer.write(b"POST /v1/chat/compl")
    started = time.monotonic()
    assert await closed_within(reader, 3) == b""  # closed, nothing answered
    assert 0.2 <= time.monotonic() - started < 2
    writer.close()
    assert await metric(base, 'safety_proxy_slow_clients_total{phase="headers"}') == 1
    await still_serves(base)


async def test_headers_trickled_byte_by_byte_are_closed_at_the_deadline(start_proxy):
    base, _ = await start_proxy(**SLOW)
    where = urlsplit(base)
    reader, writer = await asyncio.open_connection(where.hostname, where.port)
    started = time.monotonic()
    head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
    closed = asyncio.ensure_future(reader.read())
    for byte in head:
        if closed.done():
            break
        writer.write(bytes([byte]))
        await asyncio.sleep(0.05)
    assert await asyncio.wait_for(closed, 3) == b""
    assert time.monotonic() - started < 1.5  # activity does not extend the deadline
    writer.close()
    assert await metric(base, 'safety_proxy_slow_clients_total{phase="headers"}') == 1


async def test_a_connection_that_sends_nothing_is_closed_and_counted(start_proxy):
    base, _ = await start_proxy(**SLOW)
    where = urlsplit(base)
    reader, writer = await asyncio.open_connection(where.hostname, where.port)
    assert await closed_within(reader, 3) == b""
    writer.close()
    assert await metric(base, 'safety_proxy_slow_clients_total{phase="headers"}') == 1


async def test_an_idle_kept_alive_connection_is_not_a_slow_client(start_proxy):
    """Between two requests the keep-alive timeout applies, not the header timeout."""
    base, _ = await start_proxy(**SLOW)
    async with aiohttp.ClientSession() as session:
        for _ in range(2):
            async with session.post(f"{base}/v1/chat/completions", json=CLEAN) as response:
                assert response.status == 200
            await asyncio.sleep(0.6)  # twice the header timeout, idle
    assert await metric(base, 'safety_proxy_slow_clients_total{phase="headers"}') == 0


async def test_a_body_trickled_past_its_deadline_is_closed_and_counted(start_proxy,
                                                                       fake_upstream):
    base, _ = await start_proxy(**SLOW)
    where = urlsplit(base)
    reader, writer = await asyncio.open_connection(where.hostname, where.port)
    with capture_logs() as logs:
        writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
        closed = asyncio.ensure_future(reader.read())
        for _ in range(40):
            if closed.done():
                break
            writer.write(b" ")
            await asyncio.sleep(0.05)
        assert await asyncio.wait_for(closed, 3) == b""
        writer.close()
        await until(lambda: bool(request_lines(logs)))
    line = request_lines(logs)[0]
    assert (line["status"], line["error"]) == (408, "slow_client")
    assert await metric(base, 'safety_proxy_slow_clients_total{phase="body"}') == 1
    assert await metric(base, 'safety_proxy_errors_total{kind="slow_client"}') == 1
    assert fake_upstream.requests == []
    await still_serves(base)


# --- 3. errors the HTTP layer answers itself ---------------------------------------------

M = MARKER
CHAT = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
MALFORMED = {
    "malformed request line": f"GET /v1/models{M} HTTP/1.1 extra\r\nHost: x\r\n\r\n",
    "invalid method": f"PO(ST{M} /v1/chat/completions HTTP/1.1\r\nHost: x\r\n\r\n",
    "not HTTP at all": f"{M}\r\n\r\n",
    "invalid HTTP version": f"POST /v1/chat/completions HTTP/1.{M}\r\nHost: x\r\n\r\n",
    "LF-only line ends": f"GET /v1/models{M} HTTP/1.1\nHost: x\n\n",
    "bad header name": f"{CHAT}X-Bad{M} Name: y\r\n\r\n",
    "header without a colon": f"{CHAT}{M}\r\n\r\n",
    "space before the colon": f"{CHAT}X-{M} : y\r\n\r\n",
    "NUL in a header value": f"{CHAT}X-A: a\x00{M}\r\n\r\n",
    "obsolete line folding": f"{CHAT}X-A: a\r\n {M}\r\n\r\n",
    "bad content-length": f"{CHAT}Content-Length: 12{M}\r\n\r\n",
    "negative content-length": f"{CHAT}X-M: {M}\r\nContent-Length: -5\r\n\r\n",
    "duplicate content-length": f"{CHAT}Content-Length: 5\r\nContent-Length: 6\r\n\r\n{M}",
    "chunked and content-length": f"{CHAT}Transfer-Encoding: chunked\r\nContent-Length: 3\r\n"
                                  f"X-M: {M}\r\n\r\n0\r\n\r\n",
    "invalid transfer-encoding": f"{CHAT}Transfer-Encoding: gzip{M}\r\n\r\n",
    "bad chunk size": f"{CHAT}Transfer-Encoding: chunked\r\n\r\n{M}\r\nabc\r\n0\r\n\r\n",
    "chunk longer than its size": f"{CHAT}Transfer-Encoding: chunked\r\n\r\n"
                                  f"5\r\nab{M}cdefgh\r\n0\r\n\r\n",
    "header too long": f"{CHAT}X-Long: {M}{'a' * 9000}\r\n\r\n",
    "header name too long": f"{CHAT}X-{M}{'a' * 9000}: y\r\n\r\n",
    "URL too long": f"GET /v1/{M}{'a' * 9000} HTTP/1.1\r\nHost: x\r\n\r\n",
    "too many headers": CHAT + "".join(f"X-{M}-{i}: v\r\n" for i in range(200)) + "\r\n",
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
async def test_what_the_http_parser_refuses_is_an_openai_error_echoing_nothing(start_proxy,
                                                                              name):
    base, _ = await start_proxy()
    raw = await exchange(base, MALFORMED[name].encode())
    assert MARKER.encode() not in raw
    status, head, body = parse_response(raw)
    assert status in (400, 413, 414, 431)
    assert b"content-type: application/json" in head
    assert body["error"]["type"] == "invalid_request_error"
    assert set(body["error"]) == {"message", "type", "param", "code"}
    await still_serves(base)


async def test_tls_on_the_plain_port_is_an_openai_error(start_proxy):
    base, _ = await start_proxy()
    raw = await exchange(base, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + M.encode())
    status, _, body = parse_response(raw)
    assert status == 400 and body["error"]["type"] == "invalid_request_error"


async def test_an_unknown_expect_is_an_openai_error_echoing_nothing(start_proxy, fake_upstream):
    base, _ = await start_proxy()
    raw = await exchange(base, f"{CHAT}Expect: {M}\r\nContent-Length: 2\r\n"
                               "Connection: close\r\n\r\n{}".encode())
    assert MARKER.encode() not in raw
    status, _, body = parse_response(raw)
    assert status == 417 and body["error"]["type"] == "invalid_request_error"
    assert fake_upstream.requests == []


async def test_a_body_that_does_not_decode_is_a_400_in_the_apis_format(start_proxy,
                                                                       fake_upstream):
    base, _ = await start_proxy()
    for path in ("/v1/chat/completions", "/v1/messages"):
        payload = f"{M}, not gzip".encode()
        raw = await exchange(base, f"POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                   f"Content-Encoding: gzip\r\nContent-Length: {len(payload)}"
                                   "\r\n\r\n".encode() + payload)
        assert MARKER.encode() not in raw
        status, _, body = parse_response(raw)
        assert status == 400
        assert body["error"]["type"] == "invalid_request_error"
        assert "Content-Encoding" in body["error"]["message"]
        assert (body.get("type") == "error") == (path == "/v1/messages")  # Anthropic's shape
    assert await metric(base, 'safety_proxy_errors_total{kind="internal"}') == 0
    assert fake_upstream.requests == []
    good = gzip.compress(orjson.dumps(CLEAN))
    raw = await exchange(base, f"{CHAT}Connection: close\r\nContent-Encoding: gzip\r\n"
                               f"Content-Length: {len(good)}\r\n\r\n".encode() + good)
    assert parse_response(raw)[0] == 200  # a body that decodes is read as it always was


# --- 4. clients that disconnect ----------------------------------------------------------

async def leave_after(base: str, request: dict, seconds: float) -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(TimeoutError):
            async with session.post(f"{base}/v1/chat/completions", json=request,
                                    timeout=aiohttp.ClientTimeout(total=seconds)):
                pass


async def assert_recorded_as_disconnected(base: str, logs: list[dict]) -> None:
    await until(lambda: bool(request_lines(logs)))
    line = request_lines(logs)[0]
    assert (line["status"], line["error"]) == (499, "client_disconnected")
    assert await metric(base, 'safety_proxy_errors_total{kind="client_disconnected"}') == 1


async def test_a_client_leaving_during_the_input_checks_is_recorded_as_499(start_proxy,
                                                                           fake_upstream):
    slow = {"name": "script", "type": "scripted", "options": {"labels": ["bad", "meh"],
                                                               "delay_s": 3}}
    base, _ = await start_proxy(checks=[slow])
    with capture_logs() as logs:
        await leave_after(base, CLEAN, 0.3)
        await assert_recorded_as_disconnected(base, logs)
    assert fake_upstream.requests == []


async def test_a_client_leaving_while_the_upstream_works_is_recorded_as_499(start_proxy,
                                                                            fake_upstream):
    fake_upstream.delay_s = 5
    base, _ = await start_proxy(upstream={"read_timeout_s": 30})
    with capture_logs() as logs:
        await leave_after(base, CLEAN, 0.3)
        await assert_recorded_as_disconnected(base, logs)
    await asyncio.wait_for(fake_upstream.disconnected.wait(), 5)  # cancelled upstream too


async def test_a_client_leaving_mid_stream_is_recorded_as_499(start_proxy, fake_upstream):
    chunks = sse_chunks([f"w{i} " for i in range(400)])
    fake_upstream.answer = lambda body: Stream(chunks, delay_s=0.01)
    base, _ = await start_proxy(streaming={"mode": "low_latency"})
    with capture_logs() as logs:
        async with aiohttp.ClientSession() as session, session.post(
                f"{base}/v1/chat/completions", json={**CLEAN, "stream": True}) as response:
            await response.content.readany()  # the stream has started
        await assert_recorded_as_disconnected(base, logs)


# --- 5. upstream errors ------------------------------------------------------------------

RATE_HEADERS = {"Retry-After": "7", "x-ratelimit-remaining-requests": "0"}
ANTHROPIC_ERROR = b'{"type": "error", "error": {"type": "invalid_request_error", ' \
                  b'"message": "max_tokens: too large"}}'
OPENAI_ERROR = b'{"error": {"message": "bad model", "type": "invalid_request_error", ' \
               b'"param": "model", "code": "model_not_found"}}'
API_REQUESTS = {"/v1/chat/completions": CLEAN,
                "/v1/messages": {"model": "c", "max_tokens": 9,
                                 "messages": [{"role": "user", "content": "hi"}]}}


@pytest.mark.parametrize("path", sorted(API_REQUESTS))
@pytest.mark.parametrize(("status", "payload", "content_type"), [
    (429, f"Too many requests {M}".encode(), "text/plain"),
    (503, f"<html><body>Service Unavailable {M}</body></html>".encode(), "text/html"),
    (500, b"", "text/plain"),
])
async def test_a_non_json_upstream_error_keeps_its_status_and_headers(
        start_proxy, fake_upstream, path, status, payload, content_type):
    fake_upstream.answer = lambda body: Raw(status, payload, content_type)
    fake_upstream.response_headers = RATE_HEADERS
    base, _ = await start_proxy()
    got, body, headers = await post(base, path, orjson.dumps(API_REQUESTS[path]))
    assert got == status
    assert headers["Retry-After"] == "7" and headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["x-safety-decision"] == "allow" and headers["x-request-id"]
    assert MARKER not in orjson.dumps(body).decode()
    assert body["error"]["message"] == f"the upstream model API answered {status}"
    if path == "/v1/messages":
        assert body["type"] == "error"
        assert body["error"]["type"] == {429: "rate_limit_error"}.get(status, "api_error")
    else:
        assert body["error"]["type"] == "upstream_error"
    assert await metric(base, 'safety_proxy_errors_total{kind="upstream_bad_response"}') == 0


@pytest.mark.parametrize(("path", "error"), [("/v1/chat/completions", OPENAI_ERROR),
                                             ("/v1/messages", ANTHROPIC_ERROR)])
async def test_a_json_upstream_error_is_relayed_as_it_is(start_proxy, fake_upstream, path,
                                                         error):
    fake_upstream.answer = lambda body: Raw(400, error)
    fake_upstream.response_headers = RATE_HEADERS
    base, _ = await start_proxy()
    got, body, headers = await post(base, path, orjson.dumps(API_REQUESTS[path]))
    assert (got, body) == (400, orjson.loads(error))
    assert headers["Retry-After"] == "7"


async def test_an_upstream_redirect_is_still_a_502(start_proxy, fake_upstream):
    fake_upstream.answer = lambda body: Raw(302, b"", "text/plain")
    fake_upstream.response_headers = {"Location": "http://elsewhere.example/v1"}
    base, _ = await start_proxy()
    status, body, headers = await post(base, "/v1/chat/completions", orjson.dumps(CLEAN))
    assert status == 502 and "Location" not in headers
    assert "redirect" in body["error"]["message"]
    assert len(fake_upstream.requests) == 1


# --- 6. an upstream that is down ---------------------------------------------------------

async def test_an_unreachable_upstream_is_a_502_that_names_no_address(start_proxy):
    port = free_port()  # closed: nothing listens there
    base, _ = await start_proxy(upstream={"base_url": f"http://127.0.0.1:{port}/v1"})
    with capture_logs() as logs:
        status, body, _ = await post(base, "/v1/chat/completions", orjson.dumps(CLEAN))
    assert status == 502
    message = body["error"]["message"]
    assert message.startswith("cannot reach the upstream model API")
    assert "127.0.0.1" not in message and str(port) not in message
    assert "/v1" not in message and "http" not in message
    detail = [entry for entry in logs if entry["event"] == "upstream_unreachable"]
    assert str(port) in detail[0]["detail"]  # the operator's log has it


async def test_an_upstream_certificate_nobody_trusts_is_a_502_and_a_trusted_one_serves(
        start_proxy, fake_upstream, tmp_path, monkeypatch):
    # TLS to the upstream is verified against the system's CAs: an unknown certificate (a
    # man in the middle, or a private CA the operator has not installed) carries no prompt.
    cert, key = self_signed(tmp_path)
    runner = web.AppRunner(fake_upstream.app())
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=server_context(cert, key)).start()
    try:
        upstream = {"base_url": f"https://127.0.0.1:{port}/v1"}
        base, _ = await start_proxy(upstream=upstream)
        status, body, _ = await post(base, "/v1/chat/completions", orjson.dumps(CLEAN))
        assert status == 502 and not fake_upstream.requests
        assert body["error"]["message"] == ("cannot reach the upstream model API: its TLS "
                                            "certificate was refused")
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the operator trusts its CA
        base, _ = await start_proxy(upstream=upstream)
        status, body, _ = await post(base, "/v1/chat/completions", orjson.dumps(CLEAN))
        assert status == 200 and len(fake_upstream.requests) == 1
    finally:
        await runner.cleanup()


async def test_a_chunked_body_past_the_limit_in_one_write_is_a_413(start_proxy, fake_upstream):
    # A body that arrived whole with its headers is taken at once (no wait, no deadline):
    # its size is still checked, chunked bodies carrying no Content-Length to refuse early.
    base, _ = await start_proxy(server={"max_body_bytes": 1000})
    body = orjson.dumps({"model": "m", "messages": [{"role": "user", "content": "x" * 2000}]})
    raw = await exchange(base, b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
                         b"Connection: close\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
    status, _, answer = parse_response(raw)
    assert status == 413 and "limit of 1000 bytes" in answer["error"]["message"]
    assert fake_upstream.requests == []
    await still_serves(base)


async def test_an_upstream_that_does_not_speak_http_is_a_502_that_says_so(start_proxy):
    async def not_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"220 mail.example ESMTP ready\r\n\r\n")
        await writer.drain()
        await reader.read()
        writer.close()

    port = free_port()
    server = await asyncio.start_server(not_http, "127.0.0.1", port)
    try:
        base, _ = await start_proxy(upstream={"base_url": f"http://127.0.0.1:{port}/v1"})
        status, body, _ = await post(base, "/v1/chat/completions", orjson.dumps(CLEAN))
        assert status == 502
        assert body["error"]["message"] == ("cannot reach the upstream model API: its answer "
                                            "could not be read")
    finally:
        server.close()


@pytest.mark.parametrize("stream", [False, True])
async def test_a_compressed_answer_is_decoded_and_scored(start_proxy, fake_upstream, stream):
    # An upstream (or a hop before it) may compress though the proxy asked for identity:
    # read raw, the answer's words would reach the client unscored.
    if stream:
        packed = gzip.compress(b"".join(sse_chunks(["Sure: ", "BADWORD ", "done."])))
        fake_upstream.answer = lambda body: Stream([packed[:20], packed[20:]])
    else:
        packed = gzip.compress(orjson.dumps(completion("Sure: BADWORD done.")))
        fake_upstream.answer = lambda body: Raw(200, packed)
    fake_upstream.response_headers = {"Content-Encoding": "gzip"}
    base, _ = await start_proxy()
    async with aiohttp.ClientSession() as session, session.post(
            f"{base}/v1/chat/completions", json={**CLEAN, "stream": stream}) as response:
        assert response.status == 200
        if not stream:  # a stream's headers leave before its answer is read
            assert response.headers["x-safety-decision"] == "block"
        text = await response.text()
    assert "BADWORD" not in text and "content_filter" in text
