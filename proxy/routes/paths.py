"""Sans-IO routing: a raw request path validated, then mapped to what serves it.

Deny by default. The raw path (as the client sent it, before any decoding) must be a
plain sequence of segments: no empty segment (``//``, a trailing ``/``), no ``.`` or
``..``, no percent-encoding at all (so ``%2F``, ``%2E``, ``%5C`` cannot smuggle a
separator past the router), no backslash. Anything else is a 400, never a silent rewrite.

A valid path is ``/v1/<api path>`` (OpenAI, Anthropic) or ``/openai/<api path>`` (Azure
OpenAI); the API path is matched against the generation APIs (each moderated by its
dialect), then against the operator's forward allow-list (forwarded, recorded as
``unchecked``). Everything else is not found. The upstream URL is always
``upstream.base_url`` + ``/`` + the validated segments: no request names a path outside it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase

from proxy.protocol.errors import BadRequest

MOUNTS = ("v1", "openai")
# API path (after an optional Azure "deployments/<name>/") -> the dialect that moderates it.
GENERATION = {"chat/completions": "chat_completions", "responses": "responses",
              "completions": "completions", "messages": "messages", "embeddings": "embeddings"}
_SEGMENT = re.compile(r"^[A-Za-z0-9_\-.:~@!$&'()*+,;=]+$")


@dataclass(frozen=True, slots=True)
class Route:
    kind: str  # "generation", "moderations", "forward"
    segments: tuple[str, ...]  # the API path under the mount, validated
    dialect: str | None = None

    @property
    def api_path(self) -> str:
        return "/".join(self.segments)


class PathNotFound(Exception):
    """No route serves this method and path (a 404 in the API's error format)."""


def split_path(raw_path: str) -> tuple[str, ...]:
    """The raw path's segments, or BadRequest when it is not a plain path."""
    path = raw_path.split("?", 1)[0]
    if not path.startswith("/") or "%" in path or "\\" in path:
        raise BadRequest("the request path must be a plain path (no percent-encoding or "
                         "backslashes)", code="invalid_path")
    segments = tuple(path[1:].split("/"))
    for segment in segments:
        if segment in ("", ".", "..") or not _SEGMENT.match(segment):
            raise BadRequest("the request path has an empty, dot or invalid segment",
                             code="invalid_path")
    return segments


def route(method: str, raw_path: str, forward: list[tuple[str, str]]) -> Route:
    """Where a request goes. ``forward``: the allow-list, (METHOD, glob over the API path)."""
    segments = split_path(raw_path)
    if len(segments) < 2 or segments[0] not in MOUNTS:
        raise PathNotFound()
    api = segments[1:]
    dialect = generation_dialect(api)
    if dialect is not None and method == "POST":
        return Route("generation", api, dialect)
    if api == ("moderations",) and method == "POST":
        return Route("moderations", api)
    path = "/".join(api)
    if any(method == allowed and fnmatchcase(path, pattern) for allowed, pattern in forward):
        return Route("forward", api)
    raise PathNotFound()


def generation_dialect(api: tuple[str, ...]) -> str | None:
    if len(api) > 2 and api[0] == "deployments":  # Azure: deployments/<name>/<api path>
        api = api[2:]
    return GENERATION.get("/".join(api))
