"""Real servers for the tests: an aiohttp app on a free 127.0.0.1 port (the OS picks it).

A proxy app (one that carries its server config) runs as ``safety-proxy serve`` runs it,
through ProxyRunner; any other app (a fake upstream, a fake judge) plainly, with handler
cancellation on, so a handler sees the client's disconnect as a cancellation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from proxy.resources import SERVER_CONFIG
from proxy.server import ProxyRunner


async def start_app(app: web.Application) -> tuple[web.AppRunner, str]:
    """Starts ``app``; returns its runner (the caller cleans it up) and its base URL."""
    runner = (ProxyRunner(app) if SERVER_CONFIG in app
              else web.AppRunner(app, handler_cancellation=True, access_log=None))
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """``async with serving(app) as base_url``: the app runs inside the block."""
    runner, base_url = await start_app(app)
    try:
        yield base_url
    finally:
        await runner.cleanup()
