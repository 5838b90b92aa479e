"""The upstream's HTTP/1.1 client (proxy/pipeline/upstream_http.py) against real servers on
127.0.0.1: an aiohttp app for well-formed answers, and raw asyncio servers that answer byte
by byte as each test scripts, for what aiohttp would never send (a body cut short, an
answer nobody asked for, a silent upstream, a connection closed under a reused request).
Each test says what would go wrong without the behaviour it pins."""

from __future__ import annotations

import asyncio
import gc
import gzip
import ssl
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import yarl
from aiohttp import web

from proxy.pipeline.upstream_http import (
    BadAnswer,
    ConnectFailed,
    Disconnected,
    Pool,
)
from tests.support.ports import free_port
from tests.support.tls import self_signed, server_context

Script = Callable[["RawServer", asyncio.StreamReader, asyncio.StreamWriter],
                  Awaitable[None]]


class RawServer:
    """A TCP server on 127.0.0.1 running ``script(server, reader, writer)`` for each
    connection; counts them."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.connections = 0
        self.open = 0
        self.most_open = 0
        self.requests: list[bytes] = []  # each request head, as it came
        self.server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self, tls: ssl.SSLContext | None = None) -> str:
        port = free_port()
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", port, ssl=tls)
        return f"{'https' if tls else 'http'}://127.0.0.1:{port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            await self.script(self, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            self.open -= 1

    async def read_request(self, reader: asyncio.StreamReader) -> bytes:
        """One request's head and body (by its Content-Length); b"" when the client left."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return b""
        self.requests.append(head)
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                await reader.readexactly(int(value))
        return head

    async def close(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self._writers:  # the scripts still reading see the end
            writer.close()
        await self.server.wait_closed()


Start = Callable[[Script], Awaitable[tuple[RawServer, str]]]


@pytest.fixture
async def raw() -> AsyncIterator[Start]:
    servers: list[RawServer] = []

    async def start(script: Script) -> tuple[RawServer, str]:
        server = RawServer(script)
        servers.append(server)
        return server, await server.start()

    yield start
    for server in servers:
        await server.close()


def pool(**overrides: float) -> Pool:
    options = {"limit": 8, "connect_timeout_s": 5.0, "read_timeout_s": 5.0, **overrides}
    return Pool(limit=int(options.pop("limit")), **options)


def url(base: str, path: str = "/v1/chat/completions") -> yarl.URL:
    return yarl.URL(base + path, encoded=True)


def keep_alive(body: bytes, times: int = 100) -> Script:
    """Answers up to ``times`` requests on a connection with ``body``, kept alive."""
    async def script(server: RawServer, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        for _ in range(times):
            if not await server.read_request(reader):
                return
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()
    return script


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def replying(*pieces: bytes, hold: bool = True) -> Script:
    """Reads one request and writes ``pieces`` one by one; then, with ``hold``, waits until
    the client closes, else closes the connection itself."""
    async def script(server: RawServer, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        for piece in pieces:
            writer.write(piece)
            await writer.drain()
        if hold:
            await reader.read()
    return script


async def fetch(client: Pool, base: str, method: str = "GET", body: bytes | None = None
                ) -> bytes:
    """One request's whole answer body, its connection released."""
    answer = await client.request(method, url(base), {}, body)
    try:
        return await answer.read()
    finally:
        answer.release()


# --- keep-alive ------------------------------------------------------------------------


async def test_a_released_connection_carries_the_next_request(raw: Start) -> None:
    # Without the pool every call would pay a new TCP (and TLS) handshake.
    server, base = await raw(keep_alive(b'{"ok": 1}'))
    client = pool()
    for _ in range(3):
        answer = await client.request("POST", url(base), {"Content-Type": "application/json"},
                                      b"{}")
        assert (answer.status, await answer.read()) == (200, b'{"ok": 1}')
        answer.release()
    assert server.connections == 1
    await client.close()


async def test_an_answer_that_says_close_is_not_reused(raw: Start) -> None:
    server, base = await raw(replying(
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"))
    client = pool()
    for _ in range(2):
        assert await fetch(client, base) == b"ok"
    assert server.connections == 2
    await client.close()


async def test_a_connection_the_upstream_closed_while_idle_is_not_used(raw: Start) -> None:
    # The upstream's idle timeout (uvicorn's is 5 s) is often shorter than the pool's.
    server, base = await raw(replying(OK, hold=False))
    client = pool()
    for _ in range(2):
        assert await fetch(client, base, "POST", b"{}") == b"ok"
        while server.open:  # the upstream closed it
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # and the close reached the client
    assert server.connections == 2
    await client.close()


async def test_a_reused_connection_closed_under_a_request(raw: Start) -> None:
    # The race with an upstream's idle timeout: the request left just as the upstream
    # closed. An idempotent request is sent once more on a new connection; a POST is not
    # (the upstream may have acted on it): the caller gets the error.
    async def script(server: RawServer, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        if server.connections % 2:  # odd connections: one answer, then close the next
            await server.read_request(reader)
            writer.write(OK)
            await writer.drain()
            await server.read_request(reader)
            return
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nagain")
        await writer.drain()
    server, base = await raw(script)
    client = pool()
    assert await fetch(client, base) == b"ok"
    retried = await client.request("GET", url(base), {}, None)
    assert await retried.read() == b"again" and server.connections == 2
    retried.release()

    client = pool()
    assert await fetch(client, base, "POST", b"{}") == b"ok"
    with pytest.raises(Disconnected):
        await client.request("POST", url(base), {}, b"{}")
    assert server.connections == 3  # never sent twice
    await client.close()


async def test_a_stream_read_to_its_end_leaves_its_connection_for_the_next(raw: Start) -> None:
    # A stream released as soon as its last piece is read: without reuse every streamed
    # request would open a connection of its own (0.1 ms more to each first byte here).
    async def script(server: RawServer, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        while await server.read_request(reader):
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n")
            for piece in (b"6\r\ndata: \r\n", b"3\r\none\r\n", b"0\r\n\r\n"):
                writer.write(piece)
                await writer.drain()
    server, base = await raw(script)
    client = pool()
    for _ in range(3):
        answer = await client.request("POST", url(base), {}, b"{}")
        assert b"".join([piece async for piece in answer.content.iter_any()]) == b"data: one"
        answer.release()
    assert server.connections == 1
    await client.close()


async def test_an_idle_connection_past_the_keepalive_is_closed(raw: Start) -> None:
    server, base = await raw(keep_alive(b"ok"))
    client = pool(keepalive_s=0.05)
    assert await fetch(client, base) == b"ok"
    await asyncio.sleep(0.1)
    assert await fetch(client, base) == b"ok"
    assert server.connections == 2
    await client.close()


# --- what is sent ----------------------------------------------------------------------


async def test_the_request_goes_out_as_asked(raw: Start) -> None:
    server, base = await raw(keep_alive(b"ok"))
    client = pool()
    answer = await client.request("POST", url(base, "/v1/chat/completions?api-version=2024%2D10"),
                                  {"Authorization": "Bearer sk-x", "X-Custom": "é"}, b'{"a":1}')
    await answer.read()
    answer.release()
    head = server.requests[0].decode("utf-8")
    lines = head.split("\r\n")
    assert lines[0] == "POST /v1/chat/completions?api-version=2024%2D10 HTTP/1.1"
    port = yarl.URL(base).port
    assert f"Host: 127.0.0.1:{port}" in lines
    assert {"Authorization: Bearer sk-x", "X-Custom: é", "Content-Length: 7",
            "Accept-Encoding: identity", "Content-Type: application/octet-stream"} <= set(lines)
    await client.close()


@pytest.mark.parametrize("name, value", [("X-Evil", "a\r\nX-Injected: 1"),
                                         ("X-Evil\r\nX-Injected", "1"), ("X-Nul", "a\0b")])
async def test_a_header_that_would_smuggle_a_line_is_refused_unsent(
        raw: Start, name: str, value: str) -> None:
    server, base = await raw(keep_alive(b"ok"))
    client = pool()
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        await client.request("POST", url(base), {name: value}, b"{}")
    await asyncio.sleep(0.05)
    assert server.connections == 0
    answer = await client.request("POST", url(base), {"X-Fine": "1"}, b"{}")  # slot freed
    assert await answer.read() == b"ok"
    answer.release()
    await client.close()


# --- what is read ----------------------------------------------------------------------


async def test_a_chunked_stream_arrives_piece_by_piece(raw: Start) -> None:
    # Each piece reaches the caller as it comes, not when the answer ends: a stream's first
    # token is not held back.
    go_on = asyncio.Event()

    async def script(server: RawServer, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n6\r\ndata: \r\n")
        await writer.drain()
        await go_on.wait()
        writer.write(b"3\r\none\r\n0\r\n\r\n")
        await writer.drain()
        await reader.read()
    server, base = await raw(script)
    client = pool()
    answer = await client.request("POST", url(base), {}, b"{}")
    assert answer.content_type == "text/event-stream"
    pieces = answer.content.iter_any()
    assert await asyncio.wait_for(anext(pieces), 5) == b"data: "
    go_on.set()
    assert [piece async for piece in pieces] == [b"one"]
    answer.release()
    await client.close()


async def test_a_body_that_ends_with_the_connection(raw: Start) -> None:
    server, base = await raw(replying(
        b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{"a":', b" 1}", hold=False))
    client = pool()
    answer = await client.request("POST", url(base), {}, b"{}")
    assert await answer.read() == b'{"a": 1}'
    answer.release()
    await client.close()


@pytest.mark.parametrize("answer_bytes", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf!",  # cut short
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhalf!\r\n",  # no last chunk
])
async def test_a_body_cut_short_is_an_error_not_an_answer(
        raw: Start, answer_bytes: bytes) -> None:
    # Read as complete, half an answer would be scored and relayed as if it were whole.
    server, base = await raw(replying(answer_bytes, hold=False))
    client = pool()
    answer = await client.request("POST", url(base), {}, b"{}")
    with pytest.raises(Disconnected):
        await answer.read()
    answer.release()
    await client.close()


@pytest.mark.parametrize("answer_bytes, message", [
    (b"SMTP ready\r\n\r\n", "not HTTP/1.1"),
    (b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", "headers are too large"),
    (b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 2\r\n\r\nok",
     "content-encoding"),
    (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
     "switched protocols"),
])
async def test_what_is_not_an_answer_to_read_is_refused(
        raw: Start, answer_bytes: bytes, message: str) -> None:
    server, base = await raw(replying(answer_bytes))
    client = pool()
    with pytest.raises(BadAnswer, match=message):
        await client.request("POST", url(base), {}, b"{}")
    await client.close()


async def test_an_interim_answer_is_skipped(raw: Start) -> None:
    server, base = await raw(replying(
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 201 Created\r\nX-A: 1\r\nContent-Length: 2\r\n\r\nok"))
    client = pool()
    answer = await client.request("POST", url(base), {}, b"{}")
    assert (answer.status, answer.headers["X-A"], await answer.read()) == (201, "1", b"ok")
    answer.release()
    await client.close()


async def test_an_answer_nobody_asked_for_closes_the_connection(raw: Start) -> None:
    # A second answer behind the first would otherwise be read as the next request's.
    async def script(server: RawServer, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        if server.connections == 1:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst"
                         b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged")
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond")
        await writer.drain()
        await reader.read()
    server, base = await raw(script)
    client = pool()
    assert await fetch(client, base, "POST", b"{}") == b"first"
    answer = await client.request("POST", url(base), {}, b"{}")  # on a new connection
    assert await answer.read() == b"second" and server.connections == 2
    answer.release()
    await client.close()


async def test_a_head_answer_has_no_body(raw: Start) -> None:
    server, base = await raw(replying(b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"))
    client = pool()
    answer = await asyncio.wait_for(client.request("HEAD", url(base), {}, None), 5)
    assert (answer.status, await answer.read()) == (200, b"")
    answer.release()
    await client.close()


async def test_compressed_answers_are_decoded() -> None:
    # The client asks for none, but an upstream may compress anyway: read raw, a gzip body
    # would be scored as noise.
    text = b'{"choices": [{"message": {"content": "hello"}}]}' * 50
    deflater = zlib.compressobj()
    encodings = {"gzip": gzip.compress(text),
                 "deflate": deflater.compress(text) + deflater.flush()}

    async def handler(request: web.Request) -> web.StreamResponse:
        encoding = request.match_info["encoding"]
        response = web.StreamResponse(headers={"Content-Encoding": encoding})
        await response.prepare(request)
        data = encodings[encoding]
        for start in range(0, len(data), 7):  # decoded across many pieces
            await response.write(data[start:start + 7])
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/{encoding}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    client = pool()
    try:
        for encoding in encodings:
            answer = await client.request("GET", url(f"http://127.0.0.1:{port}", f"/{encoding}"),
                                          {}, None)
            assert await answer.read() == text, encoding
            answer.release()
    finally:
        await client.close()
        await runner.cleanup()


async def test_a_slow_reader_holds_the_upstream_back_and_loses_nothing(raw: Start) -> None:
    # Without backpressure a fast upstream and a slow client would buffer a whole answer in
    # the proxy's memory.
    size = 32 * 1024 * 1024  # more than the kernel's socket buffers hold (HIGH_WATER: 256 KiB)
    sent = asyncio.Event()

    async def script(server: RawServer, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
        for start in range(0, size, 1 << 20):
            writer.write(bytes([start >> 20]) * (1 << 20))
            await writer.drain()
        sent.set()
        await reader.read()
    server, base = await raw(script)
    client = pool()
    answer = await client.request("GET", url(base), {}, None)
    await asyncio.sleep(0.3)  # the upstream writes what it can; nothing is read yet
    assert not sent.is_set()  # held back: the socket stopped being read
    received = bytearray()
    async for piece in answer.content.iter_any():
        received += piece
        await asyncio.sleep(0.001)
    assert len(received) == size and sent.is_set()
    assert all(received[i] == i >> 20 for i in range(0, size, 1 << 20))
    answer.release()
    await client.close()


# --- timeouts, cancellation, the pool's limit ------------------------------------------


async def test_silence_before_the_answer_is_a_timeout(raw: Start) -> None:
    async def script(server: RawServer, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        await reader.read()
    server, base = await raw(script)
    client = pool(read_timeout_s=0.2)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(client.request("POST", url(base), {}, b"{}"), 5)
    await client.close()


async def test_silence_on_a_reused_connection_is_a_timeout_too(raw: Start) -> None:
    # The read timer lapses between exchanges: the next one must arm it again.
    async def script(server: RawServer, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(OK)
        await writer.drain()
        await server.read_request(reader)
        await reader.read()  # the second request is never answered
    server, base = await raw(script)
    client = pool(read_timeout_s=0.2)
    assert await fetch(client, base) == b"ok"
    await asyncio.sleep(0.3)  # past the first exchange's timer
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(client.request("POST", url(base), {}, b"{}"), 5)
    assert server.connections == 1
    await client.close()


async def test_silence_in_the_middle_of_a_stream_is_a_timeout_but_slow_tokens_are_not(
        raw: Start) -> None:
    # No total timeout: a stream lives as long as pieces keep coming, each within the read
    # timeout; a silence longer than it ends the stream.
    async def script(server: RawServer, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(8):  # 0.8 s in all, 0.1 s apart: longer than the read timeout
            writer.write(b"1\r\nx\r\n")
            await writer.drain()
            await asyncio.sleep(0.1)
        await reader.read()  # then silence
    server, base = await raw(script)
    client = pool(read_timeout_s=0.5)
    answer = await client.request("POST", url(base), {}, b"{}")
    received = b""
    with pytest.raises(TimeoutError):
        async for piece in answer.content.iter_any():
            received += piece
    assert received == b"x" * 8
    answer.release()
    await client.close()


async def test_a_refused_connection_names_its_cause() -> None:
    client = pool()
    with pytest.raises(ConnectFailed) as caught:
        await client.request("GET", url(f"http://127.0.0.1:{free_port()}"), {}, None)
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)
    assert "127.0.0.1" not in str(caught.value)
    await client.close()


async def test_a_cancelled_caller_closes_its_connection_and_frees_its_slot(raw: Start) -> None:
    # The client left: the upstream must see the connection close (and stop generating),
    # and the pool must not lose the slot.
    closed = asyncio.Event()

    async def script(server: RawServer, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        if server.connections == 1:
            await reader.read()  # never answers; returns when the client closes
            closed.set()
            return
        writer.write(OK)
        await writer.drain()
    server, base = await raw(script)
    client = pool(limit=1)
    waiting = asyncio.ensure_future(client.request("POST", url(base), {}, b"{}"))
    while not server.requests:  # it was sent
        await asyncio.sleep(0.01)
    waiting.cancel()
    await asyncio.wait_for(closed.wait(), 5)
    answer = await asyncio.wait_for(client.request("POST", url(base), {}, b"{}"), 5)
    assert await answer.read() == b"ok"
    answer.release()
    await client.close()


async def test_the_limit_holds_callers_until_a_connection_is_free(raw: Start) -> None:
    async def script(server: RawServer, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        while await server.read_request(reader):
            await asyncio.sleep(0.05)
            writer.write(OK)
            await writer.drain()
    server, base = await raw(script)
    client = pool(limit=2)

    async def call() -> bytes:
        answer = await client.request("POST", url(base), {}, b"{}")
        try:
            return await answer.read()
        finally:
            answer.release()

    assert await asyncio.gather(*(call() for _ in range(6))) == [b"ok"] * 6
    assert server.most_open == 2
    await client.close()


async def test_an_answer_dropped_unreleased_frees_its_slot(raw: Start) -> None:
    server, base = await raw(keep_alive(b"ok"))
    client = pool(limit=1)
    answer = await client.request("GET", url(base), {}, None)
    del answer
    gc.collect()
    answer = await asyncio.wait_for(client.request("GET", url(base), {}, None), 5)
    assert await answer.read() == b"ok"
    answer.release()
    await client.close()


# --- TLS -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("tls"))


async def test_tls_trusts_the_system_store_and_refuses_an_unknown_certificate(
        certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = certificate
    server = RawServer(keep_alive(b"secret"))
    base = await server.start(server_context(cert, key))
    try:
        untrusting = pool()
        with pytest.raises(ConnectFailed) as caught:
            await untrusting.request("GET", url(base), {}, None)
        assert isinstance(caught.value.__cause__, ssl.SSLCertVerificationError)
        await untrusting.close()

        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # as an operator trusts a private CA
        trusting = pool()
        answer = await trusting.request("GET", url(base), {}, None)
        assert await answer.read() == b"secret"
        answer.release()
        await trusting.close()
    finally:
        await server.close()
