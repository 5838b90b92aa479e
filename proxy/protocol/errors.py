"""The OpenAI-style error envelope and the exceptions that map onto it.

Every error a client sees is ``{"error": {"message", "type", "param", "code"}}`` with an
HTTP status. Messages never contain secrets or conversation text.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web


class ProxyError(Exception):
    """An error answered to the client. ``kind`` is the bounded label for the errors metric."""

    status = 500
    error_type = "server_error"
    kind = "internal"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        self.headers = headers or {}

    def envelope(self) -> dict[str, Any]:
        return error_envelope(self.message, self.error_type, self.param, self.code)


class BadRequest(ProxyError):
    status = 400
    error_type = "invalid_request_error"
    kind = "bad_request"


class BodyTooLarge(ProxyError):
    status = 413
    error_type = "invalid_request_error"
    kind = "body_too_large"


class TooManyTexts(ProxyError):
    """More texts, or more characters, than one request may ask the checks to score."""

    status = 413
    error_type = "invalid_request_error"
    kind = "too_many_texts"


class SlowClient(ProxyError):
    """The request body did not arrive in time: the connection is closed, so no client reads
    this; it is what the request is recorded as."""

    status = 408
    error_type = "invalid_request_error"
    kind = "slow_client"


class UpstreamUnreachable(ProxyError):
    status = 502
    error_type = "upstream_error"
    kind = "upstream_unreachable"


class UpstreamTimeout(ProxyError):
    status = 504
    error_type = "upstream_error"
    kind = "upstream_timeout"


class UpstreamBadResponse(ProxyError):
    status = 502
    error_type = "upstream_error"
    kind = "upstream_bad_response"


class UpstreamAnswered(ProxyError):
    """An error status the upstream answered with a body that is not JSON: relayed with that
    status, in the API's error format, with a fixed message (the upstream's body is never
    echoed). Answered, not raised: it is the upstream's answer, not the proxy's error."""

    error_type = "upstream_error"

    def __init__(self, status: int) -> None:
        super().__init__(f"the upstream model API answered {status}")
        self.status = status


class Unavailable(ProxyError):
    status = 503
    error_type = "service_unavailable"
    kind = "unavailable"


class Unauthorized(ProxyError):
    """No valid client key (auth.mode: keys). ``reason``: missing, unknown or expired."""

    status = 401
    error_type = "invalid_request_error"  # what OpenAI answers for a bad key
    kind = "unauthenticated"

    def __init__(self, message: str, *, reason: str, code: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message, code=code, headers=headers)
        self.reason = reason


class Throttled(ProxyError):
    status = 429
    error_type = "rate_limit_error"
    kind = "principal_throttled"


class Banned(ProxyError):
    status = 403
    error_type = "permission_error"
    kind = "principal_banned"


def error_envelope(message: str, error_type: str, param: str | None = None,
                   code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None
                  ) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, headers=headers,
                        content_type="application/json")
