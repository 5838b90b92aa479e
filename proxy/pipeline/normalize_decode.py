"""The decoded view's folding: encoded runs replaced by the text they encode. Sans-IO, pure.

``decoded(text)`` replaces each run of 16+ base64 characters (standard alphabet, length with
its padding a multiple of 4), of 16+ hex digits (even length) and of %XX escapes by its
decoding, when that decoding is UTF-8 text at least 90 % printable (whitespace counts);
any other run stays as it is. A hex-looking run is tried as hex first, then as base64.

Bounded: one linear pass; a decoding is never longer than its run (3/4, 1/2 and 1/3 of it),
and what a decoding yields is never decoded again (the caller does not call it twice).
"""

from __future__ import annotations

import base64
import binascii
import re

_ENCODED = re.compile(r"(?<![\w+/])(?P<b64>(?=[A-Za-z0-9+/=]{16})[A-Za-z0-9+/]++={0,2})"
                      r"(?![\w+/=])|(?P<pct>(?:%[0-9A-Fa-f]{2})++)")
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})+")
_PRINTABLE_SHARE = 0.9


def decoded(text: str) -> str:
    """Each base64, hex or %XX run replaced by the text it encodes (once, never deeper)."""
    return _ENCODED.sub(_decode_run, text)


def _decode_run(match: re.Match[str]) -> str:
    run = match[0]
    if match["pct"]:
        payload = _as_text(bytes.fromhex(run.replace("%", "")))
    else:
        payload = _as_text(bytes.fromhex(run)) if _HEX.fullmatch(run) else None
        payload = payload if payload is not None else _base64_text(run)
    return run if payload is None else payload


def _base64_text(run: str) -> str | None:
    try:
        return _as_text(base64.b64decode(run, validate=True)) if len(run) % 4 == 0 else None
    except binascii.Error:
        return None


def _as_text(data: bytes) -> str | None:
    """The bytes as text when they are UTF-8 and mostly printable; else None."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    printable = sum(char.isprintable() or char.isspace() for char in text)
    return text if text and printable >= _PRINTABLE_SHARE * len(text) else None
