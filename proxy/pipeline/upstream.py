"""The upstream model API: one pooled client per app (``upstream_http.Pool``), explicit
timeouts, error mapping.

Contract: ``open()`` returns the upstream's response with its body not yet read, or raises
a ProxyError (502 unreachable, 504 timeout) whose message never names the upstream's
host, port or URL (the log line has them). There is no total timeout, only connect and
per-read timeouts, so a long stream lives as long as tokens keep coming. Cancelling the
caller (client gone) closes the upstream connection.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Mapping, Sequence

import structlog
import yarl
from multidict import CIMultiDict

from proxy.config.schema import UpstreamConfig
from proxy.observability.tracing import traced_upstream
from proxy.pipeline.upstream_http import (
    Answer,
    BadAnswer,
    ConnectFailed,
    Disconnected,
    Pool,
    UpstreamHTTPError,
)
from proxy.protocol.errors import UpstreamTimeout, UpstreamUnreachable

log = structlog.get_logger("safety_proxy.upstream")

# Hop-by-hop and body-framing headers are never forwarded either way (bench/floor_proxy.py
# drops the same).
HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
    "transfer-encoding", "upgrade", "host", "content-length", "content-encoding",
    "accept-encoding",
})
# The headers clients authenticate with: OpenAI (Authorization), Anthropic (x-api-key),
# Azure OpenAI (api-key).
_CREDENTIALS = frozenset({"authorization", "x-api-key", "api-key"})
_DROPPED = HOP_BY_HOP | _CREDENTIALS  # with the operator's key, or the proxy's own client keys


class Upstream:
    def __init__(self, config: UpstreamConfig) -> None:
        self.config = config
        # No cookie jar: the pool serves every client, so a cookie the upstream set on one
        # client's answer would ride along on the next client's request.
        self._pool = Pool(limit=config.max_connections,
                          connect_timeout_s=config.connect_timeout_s,
                          read_timeout_s=config.read_timeout_s, keepalive_s=30.0)

    async def close(self) -> None:
        await self._pool.close()

    def url(self, segments: Sequence[str]) -> str:
        """``base_url`` + the validated path segments (routes/paths.py): no segment is
        empty, a dot segment or holds a separator, so the URL stays under ``base_url``."""
        assert all(s and s not in (".", "..") and "/" not in s and "%" not in s
                   for s in segments), "unvalidated path segments"
        return f"{self.config.base_url}/{'/'.join(segments)}"

    def request_headers(self, incoming: Mapping[str, str], *,
                        client_credentials: bool = True) -> CIMultiDict[str]:
        """The client's headers without hop-by-hop ones. With a key configured, every
        credential the client sent is dropped and the operator's key goes in the header
        the upstream reads (``api_key_header``): a client key never reaches the upstream
        beside the operator's. ``client_credentials`` False drops them too (they are the
        proxy's own client keys, auth.mode: keys, never the upstream's business)."""
        api_key = self._api_key()
        dropped = _DROPPED if api_key is not None or not client_credentials else HOP_BY_HOP
        headers = CIMultiDict([(k, v) for k, v in incoming.items() if k.lower() not in dropped])
        if api_key is not None:
            name = self.config.api_key_header
            headers[name] = f"Bearer {api_key}" if name == "Authorization" else api_key
        headers.update(self.config.headers)
        return headers

    def _api_key(self) -> str | None:
        if self.config.api_key is not None:
            return self.config.api_key.get_secret_value()
        if self.config.api_key_env:
            import os

            return os.environ.get(self.config.api_key_env) or None
        return None

    async def open(self, method: str, segments: Sequence[str], *, data: bytes | None,
                   headers: Mapping[str, str], query: str = "",
                   client_credentials: bool = True) -> Answer:
        """``query``: the raw (still encoded) query string, passed on as it came.
        ``client_credentials``: see ``request_headers``.
        Redirects are never followed: a 3xx is the upstream's answer, relayed as it is
        (following one would re-send the body, and the operator's key, elsewhere)."""
        url = yarl.URL(self.url(segments) + (f"?{query}" if query else ""), encoded=True)
        try:
            return await traced_upstream(  # a span, and its trace context in the headers
                method, url, self.request_headers(headers, client_credentials=client_credentials),
                lambda sent: self._pool.request(method, url, sent, data))
        except TimeoutError:
            raise UpstreamTimeout("the upstream model API did not answer in time") from None
        except UpstreamHTTPError as exc:
            log.warning("upstream_unreachable", detail=_detail(exc), host=url.host,
                        port=url.port)
            raise UpstreamUnreachable(
                f"cannot reach the upstream model API: {_failure(exc)}") from None


# Headers the proxy itself sets on every response; an upstream's are never relayed.
_OWN = frozenset({"content-type", "x-safety-decision", "x-request-id"})


def response_headers(upstream: Mapping[str, str]) -> dict[str, str]:
    """Upstream response headers worth relaying (rate limits, processing time, ...)."""
    return {k: v for k, v in upstream.items()
            if k.lower() not in HOP_BY_HOP and k.lower() not in _OWN}


# What went wrong, as a client reads it: never the OS's or TLS library's text, which may
# name the upstream's host, port or URL (the log line has them).
def _failure(exc: UpstreamHTTPError) -> str:
    cause = exc.__cause__
    if isinstance(exc, ConnectFailed):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return "its TLS certificate was refused"
        if isinstance(cause, ssl.SSLError):
            return "the TLS handshake failed"
        if isinstance(cause, socket.gaierror):
            return "its host name does not resolve"
        return "the connection was refused or failed"
    if isinstance(exc, Disconnected):
        return "it closed the connection"
    if isinstance(exc, BadAnswer):
        return "its answer could not be read"
    return type(exc).__name__


def _detail(exc: UpstreamHTTPError) -> str:
    """For the log line: the error and what caused it."""
    cause = exc.__cause__
    return f"{type(exc).__name__}: {exc}" + (f" ({type(cause).__name__}: {cause})" if cause
                                               else "")
