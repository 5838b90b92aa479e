"""create_app: routes, middlewares and resource lifecycles. No request logic lives here."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from classifiers import heap
from classifiers.tasks import spawn
from proxy.admin.listener import mount_admin
from proxy.config.loader import ConfigError, LoadedConfig
from proxy.config.reload import ConfigReloader
from proxy.config.snapshot import Snapshot, SnapshotHolder, build_snapshot, declare_series
from proxy.observability.metrics import Metrics
from proxy.observability.tracing import TRACING, Tracing
from proxy.pipeline.fetch import Fetcher
from proxy.pipeline.identify import Identifier
from proxy.pipeline.transcribe import Transcriber
from proxy.pipeline.upstream import Upstream
from proxy.protocol.dialect import Dialect
from proxy.protocol.errors import json_response
from proxy.protocol.http_errors import http_error
from proxy.resources import (
    ABUSE_GATE,
    BACKGROUND,
    DIALECTS,
    FETCHERS,
    IDENTIFIER,
    METRICS,
    READINESS,
    RELOADER,
    SERVER_CONFIG,
    STATE_LAYER,
    TRANSCRIBERS,
    UPSTREAMS,
    VERDICT_CACHE,
    Background,
    PerConfig,
    Readiness,
)
from proxy.routes.dispatch import dispatch
from proxy.routes.health import healthz, metrics, readyz
from proxy.state.factory import build_state

log = structlog.get_logger("safety_proxy.app")


def create_app(loaded: LoadedConfig, *, config_path: Path | None = None,
               metrics_registry: Metrics | None = None,
               load_in_background: bool = False) -> web.Application:
    """The proxy as an aiohttp app.

    ``config_path`` enables hot reload (SIGHUP and file watching). With
    ``load_in_background`` the server listens at once and ``/readyz`` answers 503 until
    the classifiers have started; a start-up failure then stops the server with the error.
    """
    app = web.Application(client_max_size=1 << 40, middlewares=[_unexpected_errors])
    app[METRICS] = metrics_registry or Metrics()
    app[READINESS] = Readiness()
    app[UPSTREAMS] = PerConfig(Upstream)
    app[FETCHERS] = PerConfig(Fetcher)
    app[TRANSCRIBERS] = PerConfig(Transcriber)
    app[BACKGROUND] = Background()
    app[SERVER_CONFIG] = loaded.config.server
    app[TRACING] = Tracing()  # off until _tracing_ctx reads OTEL_* (or a test installs one)
    layer = build_state(loaded.config, app[METRICS])  # no I/O; raises ConfigError
    app[STATE_LAYER] = layer
    app[ABUSE_GATE] = layer.gate
    app[VERDICT_CACHE] = layer.cache
    app[IDENTIFIER] = Identifier(layer.principal_secret)
    app.cleanup_ctx.append(_tracing_ctx)
    app.cleanup_ctx.append(_state_ctx)
    app.cleanup_ctx.append(_snapshot_ctx(loaded, config_path, load_in_background))
    app.cleanup_ctx.append(_upstreams_ctx)
    mount_admin(app, loaded.config.admin)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app[DIALECTS] = dialects()
    app.router.add_route("*", "/{path:.*}", dispatch)  # every API path: validated, routed
    return app


def dialects() -> dict[str, Dialect]:
    from proxy.protocol import chat, completions, embeddings, messages, responses

    return {module.DIALECT.name: module.DIALECT
            for module in (chat, completions, embeddings, messages, responses)}


def _snapshot_ctx(loaded: LoadedConfig, config_path: Path | None,
                  background: bool) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        readiness = app[READINESS]
        loader = spawn(_load(app, loaded, config_path), name="initial-snapshot")
        if not background:
            await loader
        yield
        loader.cancel()
        await asyncio.gather(loader, return_exceptions=True)
        await app[BACKGROUND].drain()
        if app.get(RELOADER) is not None:
            await app[RELOADER].stop()
        if readiness.holder is not None:
            await readiness.holder.close()
    return ctx


async def _load(app: web.Application, loaded: LoadedConfig, config_path: Path | None) -> None:
    readiness = app[READINESS]
    try:
        snapshot = await build_snapshot(loaded)
    except ConfigError as exc:
        readiness.startup_error = str(exc)
        log.error("startup_failed", error=str(exc))
        raise
    metrics = app[METRICS]
    declare_series(metrics, snapshot)
    readiness.holder = SnapshotHolder(snapshot)
    if config_path is not None:
        gate = app[STATE_LAYER].gate

        def follow(snapshot: Snapshot) -> None:  # abuse and event settings reload too
            gate.update(snapshot.config.abuse, snapshot.config.events)
        reloader = ConfigReloader(config_path, readiness.holder, metrics, on_swap=follow)
        reloader.start(loaded.config.reload.watch, loaded.config.reload.interval_s)
        app[RELOADER] = reloader
    settled_s = heap.settle()  # the loaded checks out of the collector's way, before traffic
    readiness.ready.set()
    log.info("ready", config=loaded.source, checks=[c.name for c in snapshot.checks],
             heap_settle_ms=round(1000 * settled_s, 1))
    warn_unmoderated(snapshot)
    warn_open_relay(snapshot)


def warn_unmoderated(snapshot: Snapshot) -> None:
    """A direction with no check moderates nothing: say so once, loudly, at start."""
    for direction in ("input", "output"):
        if not snapshot.checks_for(direction):
            log.warning("no_checks", direction=direction,
                        detail=f"no check runs on the {direction}: it is not moderated")


def warn_open_relay(snapshot: Snapshot) -> None:
    """An injected upstream key served without client authentication: allowed only by an
    explicit auth.allow_open_relay, and said loudly at every start."""
    upstream, auth = snapshot.config.upstream, snapshot.config.auth
    if auth.allow_open_relay and auth.mode == "none" and (
            upstream.api_key is not None or upstream.api_key_env is not None):
        log.warning("open_relay", detail="auth.mode is none and the proxy injects the "
                    "upstream key: anyone who reaches the proxy uses the model "
                    "(auth.allow_open_relay is true)")


async def _tracing_ctx(app: web.Application) -> AsyncIterator[None]:
    """OpenTelemetry, as the OTEL_* variables say (observability/tracing.py): started
    first, flushed last, off the event loop (an exporter may block on its collector)."""
    app[TRACING].start_from_env()
    yield
    await asyncio.to_thread(app[TRACING].shutdown)


async def _state_ctx(app: web.Application) -> AsyncIterator[None]:
    """The state store: checked at start (down means degraded, not fatal), closed last, after
    the outcomes being recorded have reached it."""
    await app[STATE_LAYER].start()
    yield
    await app[BACKGROUND].drain()
    await app[STATE_LAYER].close()


async def _upstreams_ctx(app: web.Application) -> AsyncIterator[None]:
    yield
    await app[UPSTREAMS].close()
    await app[FETCHERS].close()
    await app[TRANSCRIBERS].close()


@web.middleware
async def _unexpected_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A bug becomes a 500 OpenAI envelope (and a log line), never an HTML page; an HTTP
    error aiohttp raises (405...) an OpenAI envelope too (errors raised before the
    middlewares: proxy/server.py)."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.content_type == "application/json":
            raise
        return json_response(http_error(exc.status), status=exc.status)
    except Exception:
        log.exception("unhandled_error", path=request.path)
        request.app[METRICS].errors.labels("internal").inc()
        return json_response(http_error(500), status=500)

