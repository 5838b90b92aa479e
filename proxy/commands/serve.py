"""``safety-proxy serve``: run the proxy (``--demo`` adds the in-process demo upstream)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket
import sys
from pathlib import Path

from aiohttp import web

from proxy.admin.listener import ADMIN_LISTENER
from proxy.app import create_app
from proxy.config.loader import ConfigError, LoadedConfig, load_embedded_defaults, load_file
from proxy.demo.upstream import create_demo_upstream
from proxy.observability.logging import configure_logging
from proxy.resources import READINESS
from proxy.server import ProxyRunner


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("serve", help="run the proxy")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", type=Path, help="YAML config file (hot-reloaded)")
    source.add_argument("--demo", action="store_true",
                        help="embedded defaults with the demo upstream in the same process")
    parser.add_argument("--host", help="listen address (overrides server.host)")
    parser.add_argument("--port", type=int, help="listen port (overrides server.port)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    _use_uvloop()
    try:
        return asyncio.run(_serve(args))
    except ConfigError as exc:
        print(f"safety-proxy: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


async def _serve(args: argparse.Namespace) -> int:
    runners: list[web.AppRunner] = []
    try:
        loaded = await _load_config(args, runners)
        configure_logging(loaded.config.logging)
        app = create_app(loaded, config_path=args.config, load_in_background=True)
        host = args.host or loaded.config.server.host
        port = args.port if args.port is not None else loaded.config.server.port
        await _start(ProxyRunner(app), host, port, runners)
        print(f"safety-proxy listening on http://{host}:{port} (config: {loaded.source})",
              file=sys.stderr, flush=True)
        if ADMIN_LISTENER in app:  # started with the app (proxy/admin/listener.py)
            print(f"safety-proxy admin API on {app[ADMIN_LISTENER].url}/admin",
                  file=sys.stderr, flush=True)
        return await _wait(app)
    finally:
        for runner in reversed(runners):
            await runner.cleanup()


async def _load_config(args: argparse.Namespace, runners: list[web.AppRunner]) -> LoadedConfig:
    if not args.demo:
        return load_file(args.config)
    demo_port = _free_port()
    demo = web.AppRunner(create_demo_upstream(), handler_cancellation=True, access_log=None)
    await _start(demo, "127.0.0.1", demo_port, runners)
    return load_embedded_defaults(upstream={"base_url": f"http://127.0.0.1:{demo_port}/v1"},
                                  reload={"watch": False})


async def _start(runner: web.AppRunner, host: str, port: int,
                 runners: list[web.AppRunner]) -> None:
    await runner.setup()
    runners.append(runner)
    await web.TCPSite(runner, host, port, backlog=1024).start()


async def _wait(app: web.Application) -> int:
    """Runs until SIGINT/SIGTERM (0) or a failed start-up (1, with the reason on stderr)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    readiness = app[READINESS]
    while not stop.is_set():
        if readiness.startup_error is not None:
            print(f"safety-proxy: start-up failed:\n{readiness.startup_error}",
                  file=sys.stderr, flush=True)
            return 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.2)
    return 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _use_uvloop() -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
