"""Where the admin API is served: on its own listener (``admin.host``:``admin.port``,
loopback by default), or, with ``admin.port: null``, at /admin on the client port.

The own listener is a second aiohttp site that lives inside the proxy app's lifecycle (a
``cleanup_ctx`` entry): whatever runs the proxy app (``safety-proxy serve``, a test's
runner) starts it once the state layer has started and stops it before the state layer
closes. Its paths are /admin/... too, and it is served like the client port (ProxyRunner:
header read timeout, errors in the OpenAI format).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import structlog
from aiohttp import web

from proxy.admin.api import create_admin_app
from proxy.config.loader import ConfigError
from proxy.config.state_settings import AdminConfig
from proxy.resources import IDENTIFIER, METRICS, READINESS, SERVER_CONFIG, STATE_LAYER
from proxy.server import ProxyRunner

log = structlog.get_logger("safety_proxy.admin")


@dataclass(slots=True)
class AdminListener:
    """The own listener's base URL (``http://host:port``) once it listens, else None."""

    url: str | None = None


ADMIN_LISTENER = web.AppKey("admin_listener", AdminListener)


def mount_admin(app: web.Application, config: AdminConfig) -> bool:
    """Serves the admin API for ``app`` when a token is configured (False when not); must
    run before the app starts. Needs ``app[METRICS]``, and the state layer by then."""
    token = config.resolved_token()
    if token is None:
        log.info("admin_api_disabled", reason="no admin token configured")
        return False
    admin = create_admin_app(token, config, app[METRICS])
    if config.port is None:
        log.warning("admin_api_shared", detail="the admin API is mounted at /admin on the "
                    "client port (admin.port: null): every client can reach it")
        app.add_subapp("/admin", admin)
        return True
    app[ADMIN_LISTENER] = AdminListener()
    app.cleanup_ctx.append(_own_listener(admin, config))
    return True


def _own_listener(admin: web.Application, config: AdminConfig
                  ) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        root = _listener_app(app)
        root.add_subapp("/admin", admin)
        runner = ProxyRunner(root)
        await runner.setup()
        try:
            port = await _listen(runner, config)
            app[ADMIN_LISTENER].url = _url(config.host, port)
            log.info("admin_api_listening", host=config.host, port=port)
            yield
        finally:
            await runner.cleanup()
    return ctx


def _listener_app(app: web.Application) -> web.Application:
    """The app the own listener serves, sharing the proxy app's resources: the handlers
    read its state layer and identifier, the server (ProxyRunner) its metrics and live
    server settings."""
    root = web.Application()
    root[STATE_LAYER] = app[STATE_LAYER]
    root[IDENTIFIER] = app[IDENTIFIER]
    root[METRICS] = app[METRICS]
    root[READINESS] = app[READINESS]
    root[SERVER_CONFIG] = app[SERVER_CONFIG]
    return root


async def _listen(runner: web.AppRunner, config: AdminConfig) -> int:
    """Starts the site; returns the port it listens on (the chosen one for port 0)."""
    site = web.TCPSite(runner, config.host, config.port)
    try:
        await site.start()
    except OSError as exc:
        raise ConfigError(f"admin.port: the admin API cannot listen on {config.host}:"
                          f"{config.port}: {exc.strerror or exc}") from None
    port: int = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return port


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
