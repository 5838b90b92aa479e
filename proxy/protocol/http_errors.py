"""Errors the HTTP layer answers itself (aiohttp's request parser, its router, a refused
``Expect``), in the OpenAI error format.

Contract: the message is fixed per kind of error and never holds a byte of the request
(aiohttp's own messages quote the offending line, which may carry a credential); the
status is the one aiohttp chose.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aiohttp import http_exceptions as http

from proxy.protocol.errors import error_envelope

# (what aiohttp raised, the message, the code); subclasses first.
_PARSE_ERRORS: tuple[tuple[type[Exception], str, str], ...] = (
    (http.BadHttpMethod, "the request method is not a valid HTTP method", "invalid_method"),
    (http.BadStatusLine, "the request line is not valid HTTP/1.1", "invalid_request_line"),
    (http.LineTooLong, "the request line or a header is longer than the proxy accepts",
     "line_too_long"),
    (http.InvalidURLError, "the request target is not a valid URL", "invalid_url"),
    (http.InvalidHeader, "a request header is not valid", "invalid_header"),
    (http.ContentEncodingError, "the request body does not decode with its Content-Encoding",
     "invalid_content_encoding"),
    (http.PayloadEncodingError, "the request body's length or chunked encoding is not valid",
     "invalid_body_framing"),
    (http.HttpProcessingError, "the request is not valid HTTP/1.1: a malformed request line, "
     "header, length or chunk", "invalid_http"),
)
_MESSAGES = {417: "only 'Expect: 100-continue' is supported",
             500: "internal error in the safety proxy"}


def http_error(status: int, exc: BaseException | None = None) -> dict[str, Any]:
    """The envelope for an error the HTTP layer answers with ``status``; ``exc``: what
    aiohttp raised, when it says more than the status (a parser error)."""
    for kind, message, code in _PARSE_ERRORS:
        if isinstance(exc, kind):
            return error_envelope(message, "invalid_request_error", code=code)
    error_type = "server_error" if status >= 500 else "invalid_request_error"
    return error_envelope(_MESSAGES.get(status) or _phrase(status), error_type,
                          code=str(status))


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP error {status}"
