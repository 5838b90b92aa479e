"""Reads a request body with a size limit and a time limit, before anything parses it;
bounds what a parsed request asks the checks to score."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiohttp import StreamReader, web

from proxy.config.schema import ServerConfig
from proxy.protocol.errors import BadRequest, BodyTooLarge, SlowClient, TooManyTexts
from proxy.resources import METRICS
from proxy.server import close_slow_client


async def read_body(request: web.Request, server: ServerConfig) -> bytes:
    """The whole body, or: BodyTooLarge (413) as soon as it passes ``max_body_bytes``;
    BadRequest when its length, chunked encoding or Content-Encoding is broken; SlowClient
    when it has not all arrived within ``body_read_timeout_s`` (the connection is closed
    and counted, proxy/server.py)."""
    limit = server.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise BodyTooLarge(f"request body is {request.content_length} bytes; the limit is {limit}")
    try:
        if request.content.is_eof():  # all of it arrived with the headers: nothing to wait for
            return _whole(request.content.read_nowait(), limit)
        async with asyncio.timeout(server.body_read_timeout_s):
            return await _read(request.content, limit)
    except TimeoutError:
        close_slow_client(request.protocol, request.app[METRICS], "body")
        raise SlowClient(f"the request body did not arrive within "
                         f"{server.body_read_timeout_s} s") from None
    except web.RequestPayloadError:
        raise BadRequest("the request body cannot be read: its length, chunked encoding or "
                         "Content-Encoding is not valid") from None


def _whole(body: bytes, limit: int) -> bytes:
    if len(body) > limit:
        raise BodyTooLarge(f"request body exceeds the limit of {limit} bytes")
    return body


async def _read(content: StreamReader, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def check_text_limits(texts: Sequence[str], config: ServerConfig) -> None:
    """TooManyTexts (413) when the texts to score pass ``max_texts_per_request`` or
    ``max_text_chars_per_request``: a request is refused whole rather than scored in part."""
    if len(texts) > config.max_texts_per_request:
        raise TooManyTexts(f"the request carries {len(texts)} texts to check; the limit is "
                           f"{config.max_texts_per_request}", code="too_many_texts")
    chars = sum(len(text) for text in texts)
    if chars > config.max_text_chars_per_request:
        raise TooManyTexts(f"the request carries {chars} characters of text to check; the "
                           f"limit is {config.max_text_chars_per_request}",
                           code="too_many_texts")
