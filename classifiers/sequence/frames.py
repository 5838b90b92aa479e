"""The frames the proxy and its inference worker processes exchange over a socket.

A frame is a 4-byte big-endian length, then that many bytes of JSON (orjson). The parent
sends the setup first (``{"type", "name", "options"}``), then requests ``{"id", "texts"}``;
the worker answers the setup with ``{"class_names", "fingerprint", "activation"}`` or
``{"error"}``, and each request with ``{"id", "vectors"}`` (one score per model output
column, per text) or ``{"id", "error", "overloaded"}``, plus ``"batches"``: the rows of each
forward pass run since the previous answer. Nothing but the two ends of one
socket pair reads these: they are not a network protocol.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import orjson

_LENGTH = struct.Struct(">I")
MAX_FRAME = 1 << 30  # a request's texts are bounded far below this by the proxy's body limit


def frame(message: dict[str, Any]) -> bytes:
    payload = orjson.dumps(message)
    return _LENGTH.pack(len(payload)) + payload


async def read_frame(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    """The next message; None when the other end has closed the socket."""
    try:
        header = await reader.readexactly(_LENGTH.size)
        (length,) = _LENGTH.unpack(header)
        if length > MAX_FRAME:
            raise ValueError(f"frame of {length} bytes")
        message: dict[str, Any] = orjson.loads(await reader.readexactly(length))
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    return message
