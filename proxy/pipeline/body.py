"""Reads a request body with a size limit, before anything parses it."""

from __future__ import annotations

from aiohttp import web

from proxy.protocol.errors import BodyTooLarge


async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole body, or BodyTooLarge (413) as soon as it passes ``limit`` bytes."""
    if request.content_length is not None and request.content_length > limit:
        raise BodyTooLarge(f"request body is {request.content_length} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
