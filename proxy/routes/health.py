"""Liveness, readiness and the metrics endpoint.

``/healthz`` (liveness) answers 200 as long as the process serves, through a graceful
shutdown's drain too; ``/readyz`` answers 503 while the config and classifiers load, and from
the start of a shutdown on (``status: draining``)."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from proxy.protocol.errors import json_response
from proxy.resources import METRICS, READINESS, STATE_LAYER


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    readiness = request.app[READINESS]
    if readiness.draining:  # shutting down: still serving, but no longer to be routed to
        return json_response({"status": "draining", "reason": "shutting down"}, status=503)
    if readiness.holder is None:
        reason = readiness.startup_error or "loading config and classifiers"
        return json_response({"status": "not_ready", "reason": reason}, status=503)
    snapshot = readiness.holder.current
    body = {"status": "ready", "config_sha256": snapshot.loaded.sha256[:12],
            "checks": [check.name for check in snapshot.checks],
            "checks_by_direction": {direction: [c.name for c in snapshot.checks_for(direction)]
                                    for direction in ("input", "output")},
            "store": "up"}
    layer = request.app[STATE_LAYER]
    if layer.degraded:  # served either way; fail_closed refuses traffic, so is not ready
        body.update(status="degraded", store="down")
        failing_closed = layer.settings.store.on_error == "fail_closed"
        return json_response(body, status=503 if failing_closed else 200)
    return json_response(body)


async def metrics(request: web.Request) -> web.Response:
    await request.app[STATE_LAYER].refresh_metrics()
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
