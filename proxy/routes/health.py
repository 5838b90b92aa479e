"""Liveness, readiness and the metrics endpoint."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from proxy.protocol.errors import json_response
from proxy.resources import METRICS, READINESS


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    readiness = request.app[READINESS]
    if readiness.holder is None:
        reason = readiness.startup_error or "loading config and classifiers"
        return json_response({"status": "not_ready", "reason": reason}, status=503)
    snapshot = readiness.holder.current
    return json_response({"status": "ready", "config_sha256": snapshot.loaded.sha256[:12],
                          "checks": [check.name for check in snapshot.checks]})


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
