"""A raw HTTP/1.1 client for tests that must send a path exactly as written (aiohttp and
httpx normalise dot segments, slashes and percent-encoding before sending)."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import orjson


async def raw_request(base: str, method: str, raw_path: str, body: bytes = b"",
                      headers: dict[str, str] | None = None) -> tuple[int, dict | None]:
    """Sends one request with ``raw_path`` verbatim; returns (status, JSON body or None)."""
    where = urlsplit(base)
    reader, writer = await asyncio.open_connection(where.hostname, where.port)
    lines = [f"{method} {raw_path} HTTP/1.1", f"Host: {where.netloc}", "Connection: close",
             f"Content-Length: {len(body)}", "Content-Type: application/json",
             *(f"{k}: {v}" for k, v in (headers or {}).items())]
    try:
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        await writer.drain()
        response = await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()
    head, _, payload = response.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in head.lower():
        payload = _unchunk(payload)
    try:
        return status, orjson.loads(payload)
    except orjson.JSONDecodeError:
        return status, None


def _unchunk(payload: bytes) -> bytes:
    out = b""
    while payload:
        size_line, _, rest = payload.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        out += rest[:size]
        payload = rest[size + 2:]
    return out
