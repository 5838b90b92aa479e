"""The upstream's HTTP/1.1 client: pooled keep-alive connections, each answer parsed by
llhttp (``httptools``), and nothing else.

Why not aiohttp's client: on the proxy's hop it cost about as much CPU as the rest of the
hop together (a request object, a payload registry, a writer task and timers per call).
Here a request is one ``transport.write`` and its answer is parsed in C.

Contract (``proxy/pipeline/upstream.py`` relies on it):

- ``Pool.request()`` returns an ``Answer`` once the status and headers have arrived, its
  body not yet read. It raises ``TimeoutError`` (connect or read timeout) or an
  ``UpstreamHTTPError``: the connection failed (``ConnectFailed``, its OS or TLS error as
  ``__cause__``), the upstream closed it before its answer was complete (``Disconnected``),
  or it sent something that is not an HTTP/1.1 answer (``BadAnswer``).
- An answer's body is read with ``read()`` or ``content.iter_any()`` (gzip and deflate
  decoded; the request asks for neither), then ``release()``, whatever is left of it: the
  connection goes back to the pool only when the answer was read to its end and the
  upstream keeps it alive, otherwise it is closed (an upstream left mid-answer stops
  generating). That frees the pool slot the answer held; so does an answer collected
  unreleased.
- The read timeout is the longest silence while an answer is due; there is no total
  timeout, so a stream lives as long as tokens keep coming.
- Cancelling a caller while it waits for an answer closes the connection.
- No redirect is followed, no cookie kept, no proxy read from the environment.
- A header name or value with a CR, LF or NUL is refused (``ValueError``) before anything
  is sent: no header can smuggle a second request.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import weakref
import zlib
from collections import deque
from collections.abc import AsyncIterator, Mapping
from typing import cast

import httptools
import yarl
from multidict import CIMultiDict, CIMultiDictProxy

# Bytes of an answer buffered before the socket stops being read (a slow consumer).
HIGH_WATER = 256 * 1024
MAX_HEAD_BYTES = 64 * 1024  # an answer's status line and headers together
_DEFAULT_PORTS = {"http": 80, "https": 443}
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "DELETE", "PUT", "TRACE"})


class UpstreamHTTPError(Exception):
    """The upstream call failed; the message never names the upstream's host or URL."""


class ConnectFailed(UpstreamHTTPError):
    """No connection: refused, unreachable, a name that does not resolve, or TLS refused
    (the OSError or ssl.SSLError is the ``__cause__``)."""


class Disconnected(UpstreamHTTPError):
    """The upstream closed the connection before its answer was complete."""


class BadAnswer(UpstreamHTTPError):
    """What the upstream sent is not an HTTP/1.1 answer this client reads."""


class Pool:
    """Keep-alive connections to one or more origins, at most ``limit`` in use at once
    (a caller waits for a free one); an idle connection older than ``keepalive_s`` is
    closed instead of reused."""

    def __init__(self, *, limit: int, connect_timeout_s: float, read_timeout_s: float,
                 keepalive_s: float = 30.0) -> None:
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self.keepalive_s = keepalive_s
        self._limit = limit
        self._slots: asyncio.Semaphore | None = None  # made in the running loop
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._tls: ssl.SSLContext | None = None
        self._closed = False

    async def request(self, method: str, url: yarl.URL, headers: Mapping[str, str],
                      body: bytes | None) -> Answer:
        """``url``: absolute, already encoded (its path and query are sent as they are)."""
        origin = (url.scheme, url.raw_host or "", url.port or _DEFAULT_PORTS[url.scheme])
        head = _request_head(method, url, origin, headers, body)
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._limit)
        await self._slots.acquire()
        try:
            for _ in range(2):  # a reused connection the upstream had just closed: once more
                connection = self._idle_connection(origin) or await self._connect(origin)
                try:
                    return await connection.exchange(self, method, head, body)
                except Disconnected:
                    if not (connection.served and method in _IDEMPOTENT
                            and not connection.answer_started):
                        raise
            raise Disconnected("the upstream closed the connection")
        except BaseException:
            self._slots.release()
            raise

    async def close(self) -> None:
        self._closed = True
        for connections in self._idle.values():
            for connection in connections:
                connection.abort()
        self._idle.clear()

    def _idle_connection(self, origin: tuple[str, str, int]) -> _Connection | None:
        idle = self._idle.get(origin)
        if not idle:
            return None
        now = idle[-1].loop.time()
        while idle:
            connection = idle.pop()  # the most recently used: the least likely closed
            if not connection.lost and now - connection.idle_since < self.keepalive_s:
                return connection
            connection.abort()
        return None

    async def _connect(self, origin: tuple[str, str, int]) -> _Connection:
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        tls = self._tls_context() if scheme == "https" else None
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                _, connection = await loop.create_connection(
                    lambda: _Connection(origin, self.read_timeout_s), host, port, ssl=tls,
                    server_hostname=host if tls is not None else None)
        except OSError as exc:  # ssl.SSLError and socket.gaierror are OSErrors too
            raise ConnectFailed(type(exc).__name__) from exc
        return connection

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:  # the system's CAs (SSL_CERT_FILE / SSL_CERT_DIR apply)
            self._tls = ssl.create_default_context()
        return self._tls

    def _put_back(self, connection: _Connection) -> None:
        if self._closed or connection.lost:
            connection.abort()
            return
        connection.idle_since = connection.loop.time()
        self._idle.setdefault(connection.origin, []).append(connection)

    def _free_slot(self) -> None:
        assert self._slots is not None
        self._slots.release()


def _request_head(method: str, url: yarl.URL, origin: tuple[str, str, int],
                  headers: Mapping[str, str], body: bytes | None) -> bytes:
    scheme, host, port = origin
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    target = url.raw_path_qs or "/"
    lines = [f"{method} {target} HTTP/1.1"]
    named = {name.lower() for name in headers}
    if "host" not in named:
        lines.append(f"Host: {host}" if port == _DEFAULT_PORTS[scheme] else f"Host: {host}:{port}")
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body is not None:
        if "content-type" not in named:
            lines.append("Content-Type: application/octet-stream")
        lines.append(f"Content-Length: {len(body)}")
    if "accept-encoding" not in named:
        lines.append("Accept-Encoding: identity")
    text = "\r\n".join(lines)
    breaks = len(lines) - 1  # the joins' own; any other CR or LF would start a new line
    if text.count("\n") != breaks or text.count("\r") != breaks or "\0" in text:
        raise ValueError("a header name or value holds a CR, LF or NUL")
    return (text + "\r\n\r\n").encode("utf-8", "surrogateescape")


class _Connection(asyncio.Protocol):
    """One keep-alive connection; carries one exchange at a time."""

    def __init__(self, origin: tuple[str, str, int], read_timeout_s: float) -> None:
        self.origin = origin
        self.read_timeout_s = read_timeout_s
        # Its loop, looked up once (made by the loop's create_connection): in CPython 3.11
        # each ``asyncio.get_running_loop()`` is a getpid system call.
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self.served = False  # an answer came over it before
        self.idle_since = 0.0
        # The exchange in progress. Weak: the caller holds its answer, and one it dropped
        # unreleased is collected (and frees its slot) though the connection lives on.
        self._answer: weakref.ReferenceType[Answer] | None = None
        self.answer_started = False  # a byte of the current answer arrived
        self.paused = False
        self._parser = httptools.HttpResponseParser(self)
        self._head_bytes = 0
        self._informational = False
        self._last_read = 0.0
        self._timer: asyncio.TimerHandle | None = None

    @property
    def answer(self) -> Answer | None:
        return self._answer() if self._answer is not None else None

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.answer_started = True
        self._last_read = self.loop.time()
        answer = self.answer
        if answer is None or answer.complete:  # nothing was asked: broken or hostile
            self.abort()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(BadAnswer("the upstream switched protocols"))
        except httptools.HttpParserError as exc:  # a callback's own error is its context
            own = exc.__context__
            self._fail(own if isinstance(own, BadAnswer)
                       else BadAnswer("the upstream's answer is not HTTP/1.1"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._stop_timer()
        answer = self.answer
        if answer is None or answer.complete:
            return
        if answer.headers_arrived and answer.until_eof:
            answer.finish(keep_alive=False)
        else:
            answer.fail(Disconnected("the upstream closed the connection"))

    # httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        answer = self._current()
        self._head_bytes += len(name) + len(value) + 4
        if self._head_bytes > MAX_HEAD_BYTES:
            raise BadAnswer("the upstream's headers are too large")
        answer.raw_headers.append((name.decode("utf-8", "surrogateescape"),
                                        value.decode("utf-8", "surrogateescape")))

    def on_headers_complete(self) -> None:
        answer = self._current()
        status = self._parser.get_status_code()
        if 100 <= status < 200:  # an interim answer (101 raises HttpParserUpgrade)
            self._informational = True
            answer.raw_headers.clear()
            return
        answer.headers_complete(status)

    def _current(self) -> Answer:
        """The answer being parsed; raises for a second one behind it in the same read
        (nothing asked for it)."""
        answer = self.answer
        if answer is None or answer.complete:
            raise BadAnswer("the upstream sent an answer nobody asked for")
        return answer

    def on_body(self, body: bytes) -> None:
        self._current().feed(body)

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = False
            return
        self._current().finish(keep_alive=self._parser.should_keep_alive())

    # the exchange

    async def exchange(self, pool: Pool, method: str, head: bytes, body: bytes | None
                       ) -> Answer:
        assert self.transport is not None
        if self.lost or self.transport.is_closing():  # closed before a byte was written
            raise Disconnected("the upstream closed the connection")
        answer = Answer(pool, self, method)
        self._answer = weakref.ref(answer)
        self.answer_started = False
        self._head_bytes = 0
        self.transport.write(head + body if body else head)
        self._arm_timer()
        try:
            return await answer.wait_for_head()
        except BaseException:
            answer.detach()  # the caller holds the pool slot, not this answer
            self.abort()
            raise

    def returned(self) -> None:
        """The exchange is over and the connection idle again."""
        self._answer = None  # the parser, at a message's end, reads the next one as new
        self.served = True

    def abort(self) -> None:
        self._stop_timer()
        if self.transport is not None:
            self.transport.abort()
        self.lost = True

    def pause(self) -> None:
        if not self.paused and self.transport is not None and not self.lost:
            self.paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self.paused and self.transport is not None and not self.lost:
            self.paused = False
            self._last_read = self.loop.time()
            self.transport.resume_reading()

    def _fail(self, exc: Exception) -> None:
        answer = self.answer
        if answer is not None:
            answer.fail(exc)
        self.abort()

    # The read timeout: one timer a connection, not one a read or an exchange. When it fires
    # it moves itself on to the last read plus the timeout, and lapses once no answer is
    # due (the next exchange arms it again).

    def _arm_timer(self) -> None:
        loop = self.loop
        self._last_read = loop.time()
        if self._timer is None:
            self._timer = loop.call_at(self._last_read + self.read_timeout_s,
                                       self._check_silence)

    def _check_silence(self) -> None:
        self._timer = None
        answer = self.answer
        if answer is None or answer.complete or self.lost:
            return
        loop = self.loop
        if self.paused:  # a slow reader of ours is not the upstream's silence
            self._last_read = loop.time()
        due = self._last_read + self.read_timeout_s
        if loop.time() < due:
            self._timer = loop.call_at(due, self._check_silence)
            return
        self._fail(TimeoutError())

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class Answer:
    """The upstream's answer: ``status``, ``headers`` and ``content_type`` (the media type,
    lower case; ``application/octet-stream`` when none is given), its body read once."""

    def __init__(self, pool: Pool, connection: _Connection, method: str) -> None:
        self.status = 0
        self.headers: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict())
        self.content_type = "application/octet-stream"
        self.raw_headers: list[tuple[str, str]] = []
        self.headers_arrived = False
        self.complete = False
        self.until_eof = False  # the body ends when the connection does
        self._pool = pool
        self._connection: _Connection | None = connection
        self._loop = connection.loop
        self._head_only = method == "HEAD"
        self._keep_alive = False
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._decoder: zlib._Decompress | None = None

    @property
    def content(self) -> Answer:
        """The body as a stream (``answer.content.iter_any()``, as aiohttp spells it)."""
        return self

    async def iter_any(self) -> AsyncIterator[bytes]:
        """Each piece of the body as it arrives (all that is buffered, joined)."""
        while True:
            if self._chunks:
                yield self._take()
            elif self._error is not None:
                raise self._error
            elif self.complete:
                return
            else:
                await self._wait()

    async def read(self) -> bytes:
        """The whole body."""
        parts = []
        async for part in self.iter_any():
            parts.append(part)
        return b"".join(parts)

    def release(self) -> None:
        """Done with the answer, read or not: its connection goes back to the pool when the
        answer was read to its end and the upstream keeps it alive, else it is closed."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        if self.complete and self._keep_alive and not self._chunks and not self._head_only:
            connection.returned()
            self._pool._put_back(connection)
        else:
            connection.abort()
        self._pool._free_slot()

    def detach(self) -> None:
        """Forgets the connection and its slot (an exchange that failed: the pool's
        caller frees the slot)."""
        self._connection = None

    def __del__(self) -> None:  # an answer dropped unreleased must not hold a slot
        if getattr(self, "_connection", None) is not None:
            with contextlib.suppress(RuntimeError):  # the loop is gone: nothing left to free
                self.release()

    # fed by the connection

    async def wait_for_head(self) -> Answer:
        while not self.headers_arrived:
            if self._error is not None:
                raise self._error
            await self._wait()
        return self

    def headers_complete(self, status: int) -> None:
        self.status = status
        headers = CIMultiDict(self.raw_headers)
        self.headers = CIMultiDictProxy(headers)
        self.raw_headers = []
        declared = headers.get("Content-Type")
        if declared is not None:
            self.content_type = declared.partition(";")[0].strip().lower()
        encoding = headers.get("Content-Encoding", "identity").strip().lower()
        if encoding in ("gzip", "x-gzip", "deflate"):
            self._decoder = zlib.decompressobj(zlib.MAX_WBITS | 32 if encoding != "deflate"
                                               else zlib.MAX_WBITS)
        elif encoding != "identity":
            raise BadAnswer("the upstream's answer has a content-encoding the proxy does "
                            "not read")
        self.until_eof = ("Content-Length" not in headers
                          and "chunked" not in headers.get("Transfer-Encoding", "").lower()
                          and status not in (204, 304))
        self.headers_arrived = True
        if self._head_only:
            self.finish(keep_alive=False)
        self._wake()

    def feed(self, data: bytes) -> None:
        if self._decoder is not None:
            try:
                data = self._decoder.decompress(data)
            except zlib.error:
                raise BadAnswer("the upstream's compressed answer does not decode") from None
            if not data:
                return
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > HIGH_WATER and self._connection is not None:
            self._connection.pause()
        self._wake()

    def finish(self, *, keep_alive: bool) -> None:
        if self.complete:
            return
        if self._decoder is not None:
            tail = self._decoder.flush()
            if tail:
                self._chunks.append(tail)
        self.complete = True
        self._keep_alive = keep_alive
        self._wake()

    def fail(self, exc: BaseException) -> None:
        if not self.complete:
            self._error = exc
            self.complete = True
            self._wake()

    def _take(self) -> bytes:
        data = self._chunks.popleft() if len(self._chunks) == 1 else b"".join(self._chunks)
        self._chunks.clear()
        self._buffered = 0
        if self._connection is not None and self._connection.paused:
            self._connection.resume()
        return data

    async def _wait(self) -> None:
        self._waiter = self._loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
