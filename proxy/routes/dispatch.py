"""The one entry point for API paths: validate, route, hand over. Deny by default
(paths.py says the rules); a path that nothing serves is a 404 in the OpenAI error format."""

from __future__ import annotations

from aiohttp import web

from proxy.protocol.errors import ProxyError, error_envelope, json_response
from proxy.resources import DIALECTS, READINESS
from proxy.routes.forward import forward
from proxy.routes.generation import generate
from proxy.routes.moderations import moderate
from proxy.routes.paths import PathNotFound, route


async def dispatch(request: web.Request) -> web.StreamResponse:
    holder = request.app[READINESS].holder
    allowed = holder.current.config.routes.forward_rules() if holder is not None else []
    try:
        target = route(request.method, request.raw_path, allowed)
    except ProxyError as error:
        return json_response(error.envelope(), status=error.status)
    except PathNotFound:
        return json_response(error_envelope(
            f"no route for {request.method} on this path; the safety proxy forwards only "
            "the generation APIs it moderates and the paths its config allows",
            "invalid_request_error", code="unknown_url"), status=404)
    if target.kind == "generation":
        assert target.dialect is not None
        return await generate(request, target, request.app[DIALECTS][target.dialect])
    if target.kind == "moderations":
        return await moderate(request)
    return await forward(request, target)
