"""``safety-proxy serve``: run the proxy (``--demo`` adds the in-process demo upstream).

The listen address: ``--host``/``--port``, else the environment's ``SAFETY_PROXY_HOST``/
``SAFETY_PROXY_PORT`` (the container image sets them to 0.0.0.0 and 8080), else the
config's ``server.host``/``server.port``.

Everything it says goes to stderr as log lines (JSON lines unless stderr is a terminal or
``logging.format`` says otherwise): ``listening`` once the port is bound, a start-up
failure as one ``startup_failed`` line, and the graceful shutdown's phases
(proxy/shutdown.py). Exit status (``EXIT_HELP``): 0 after a shutdown on SIGTERM or SIGINT;
1 when the config is invalid or the proxy fails to start (a classifier that cannot load, the
admin API's port taken), or on an unexpected error; 2 for a command-line usage error
(argparse); 3 when the proxy cannot listen on its address (port in use, address not on this
host, permission denied).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from proxy.admin.listener import ADMIN_LISTENER
from proxy.app import create_app
from proxy.config.loader import (
    PRESETS,
    ConfigError,
    LoadedConfig,
    load_embedded_defaults,
    load_file,
)
from proxy.config.schema import LoggingConfig, ServerConfig
from proxy.demo.upstream import create_demo_upstream
from proxy.observability.logging import configure_logging
from proxy.resources import READINESS
from proxy.server import ProxyRunner, server_config
from proxy.shutdown import CUT_GRACE_S, StopSignals, first_of, shut_down

log = structlog.get_logger("safety_proxy.serve")

HOST_ENV, PORT_ENV = "SAFETY_PROXY_HOST", "SAFETY_PROXY_PORT"
EXIT_OK, EXIT_FAILED, EXIT_CANNOT_LISTEN = 0, 1, 3
EXIT_HELP = """exit status:
  0  stopped by SIGTERM or SIGINT (after the graceful shutdown: server.drain_s, then up to
     server.shutdown_timeout_s for requests in flight; a second signal skips the drain)
  1  invalid config, failed start-up (a classifier, the admin API's port), unexpected error
  2  command-line usage error
  3  cannot listen on the address (port in use, address not on this host, no permission)"""


class ListenError(Exception):
    """The proxy's port could not be bound; ``reason`` is the system's, e.g. "address
    already in use"."""

    def __init__(self, host: str, port: int, exc: OSError) -> None:
        super().__init__(host, port)
        self.host, self.port = host, port
        if isinstance(exc, socket.gaierror) or not exc.errno or exc.errno < 0:
            self.reason = str(exc.strerror or exc).lower()
        else:
            self.reason = os.strerror(exc.errno).lower()


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("serve", help="run the proxy", epilog=EXIT_HELP,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", type=Path, help="YAML config file (hot-reloaded)")
    source.add_argument("--demo", action="store_true",
                        help="embedded defaults with the demo upstream in the same process")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="default",
                        help="with --demo: which shipped config (default: the accurate "
                        "checks; fast: word-level checks only)")
    parser.add_argument("--host", help=f"listen address (default: ${HOST_ENV}, else "
                        "server.host)")
    parser.add_argument("--port", type=int, help=f"listen port (default: ${PORT_ENV}, else "
                        "server.port)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Serves until stopped; returns the exit status (see EXIT_HELP)."""
    _use_uvloop()
    configure_logging(LoggingConfig())  # until the config's own logging section is read
    try:
        return asyncio.run(_serve(args))
    except ConfigError as exc:
        log.error("startup_failed", error=str(exc))
        return EXIT_FAILED
    except ListenError as exc:
        log.error("startup_failed", error=exc.reason, host=exc.host, port=exc.port)
        return EXIT_CANNOT_LISTEN
    except KeyboardInterrupt:
        return EXIT_OK
    except Exception:
        log.exception("serve_failed")
        return EXIT_FAILED


async def _serve(args: argparse.Namespace) -> int:
    signals = StopSignals()
    signals.install()
    runners: list[web.AppRunner] = []
    try:
        loaded = await _load_config(args, runners)
        configure_logging(loaded.config.logging)
        host, port = listen_address(args, loaded.config.server, os.environ)
        app = create_app(loaded, config_path=args.config, load_in_background=True)
        proxy = ProxyRunner(app, shutdown_timeout=CUT_GRACE_S)  # shut_down waits; then cut
        port = await _start(proxy, host, port, runners)
        _log_listening(app, host, port, loaded.source)
        if not await _until_stopped(app, signals):
            return EXIT_FAILED  # app.py logged the failure (startup_failed)
        await shut_down(proxy, server_config(app), signals)
        return EXIT_OK
    finally:
        for runner in reversed(runners):
            if runner.server is not None:  # not already shut down
                await runner.cleanup()


def listen_address(args: argparse.Namespace, server: ServerConfig,
                   environ: Mapping[str, str]) -> tuple[str, int]:
    """(host, port): the flag's, else the environment's, else the config's; raises
    ConfigError for an environment port that is not one."""
    host = args.host or environ.get(HOST_ENV) or server.host
    if args.port is not None:
        return host, args.port
    value = environ.get(PORT_ENV, "").strip()
    if not value:
        return host, server.port
    if not value.isdigit() or int(value) > 65535:
        raise ConfigError(f"{PORT_ENV}={value!r}: not a port number (0-65535)")
    return host, int(value)


async def _load_config(args: argparse.Namespace, runners: list[web.AppRunner]) -> LoadedConfig:
    if not args.demo:
        return load_file(args.config)
    demo = web.AppRunner(create_demo_upstream(), handler_cancellation=True, access_log=None)
    demo_port = await _start(demo, "127.0.0.1", 0, runners)
    return load_embedded_defaults(args.preset,
                                  upstream={"base_url": f"http://127.0.0.1:{demo_port}/v1"},
                                  reload={"watch": False})


async def _start(runner: web.AppRunner, host: str, port: int,
                 runners: list[web.AppRunner]) -> int:
    """Sets ``runner`` up and serves it on host:port; returns the port bound (the chosen
    one for 0). Raises ListenError when it cannot listen there."""
    await runner.setup()
    runners.append(runner)
    site = web.TCPSite(runner, host, port, backlog=1024)
    try:
        await site.start()
    except OSError as exc:
        raise ListenError(host, port, exc) from None
    return site.port


def _log_listening(app: web.Application, host: str, port: int, source: str) -> None:
    fields: dict[str, Any] = {"url": _url(host, port), "host": host, "port": port,
                              "config": source}
    if ADMIN_LISTENER in app:  # started with the app (proxy/admin/listener.py)
        fields["admin_url"] = f"{app[ADMIN_LISTENER].url}/admin"
    log.info("listening", **fields)


async def _until_stopped(app: web.Application, signals: StopSignals) -> bool:
    """Waits for SIGINT/SIGTERM (True), or a failed start-up (False)."""
    readiness = app[READINESS]
    while not signals.first.is_set():
        if readiness.startup_error is not None:
            return False
        await first_of([signals.first], 0.2)
    return True


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _use_uvloop() -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
