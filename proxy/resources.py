"""The app's long-lived resources, and the ``web.AppKey`` of each (no module globals): the
one module of the proxy app's keys. Two live elsewhere, because the module that reads them
sits on another floor: ``TRACING`` (observability/tracing.py reads it, below this one) and
``ADMIN_LISTENER`` (admin/listener.py, above this one, owns its type)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from classifiers.tasks import spawn
from proxy.config.reload import ConfigReloader
from proxy.config.schema import FetchConfig, ServerConfig, UpstreamConfig
from proxy.config.snapshot import SnapshotHolder
from proxy.observability.metrics import Metrics
from proxy.pipeline.fetch import Fetcher
from proxy.pipeline.identify import Identifier
from proxy.pipeline.upstream import Upstream
from proxy.protocol.dialect import Dialect
from proxy.state.factory import StateLayer
from proxy.state.ports import AbuseGate, VerdictCache


@dataclass(slots=True)
class Readiness:
    """Set once the first snapshot (config + started classifiers) is in place; ``draining``
    from the start of a graceful shutdown on (``/readyz`` answers 503 while requests are
    still served: proxy/shutdown.py)."""

    holder: SnapshotHolder | None = None
    startup_error: str | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    draining: bool = False


class Upstreams:
    """One pooled client per distinct upstream config; a reload that changes the upstream
    gets a new client while requests in flight finish on the old one (closed at shutdown)."""

    def __init__(self) -> None:
        self._clients: dict[tuple[str, str | None], Upstream] = {}
        self._last: tuple[UpstreamConfig, Upstream] | None = None  # the hot path's answer

    async def get(self, config: UpstreamConfig) -> Upstream:
        if self._last is not None and self._last[0] is config:
            return self._last[1]
        secret = config.api_key.get_secret_value() if config.api_key else None
        identity = (config.model_dump_json(), secret)  # the dump masks the key; add it back
        client = self._clients.get(identity)
        if client is None:
            client = Upstream(config)
            await client.start()
            self._clients[identity] = client
        self._last = (config, client)
        return client

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()


class Fetchers:
    """One fetcher per distinct fetch config (pipeline/fetch.py): a reload that changes it
    gets a new one while requests in flight finish on the old (closed at shutdown)."""

    def __init__(self) -> None:
        self._fetchers: dict[str, Fetcher] = {}

    def get(self, config: FetchConfig) -> Fetcher:
        identity = config.model_dump_json()
        fetcher = self._fetchers.get(identity)
        if fetcher is None:
            fetcher = self._fetchers[identity] = Fetcher(config)
        return fetcher

    async def close(self) -> None:
        for fetcher in self._fetchers.values():
            await fetcher.close()


@dataclass(slots=True)
class Background:
    """Fire-and-forget work (recording outcomes) that shutdown waits for: ``drain`` awaits
    every task started here and not yet done."""

    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = spawn(coro, name=name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def drain(self) -> None:
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)


METRICS = web.AppKey("metrics", Metrics)
READINESS = web.AppKey("readiness", Readiness)
UPSTREAMS = web.AppKey("upstreams", Upstreams)
FETCHERS = web.AppKey("fetchers", Fetchers)
BACKGROUND = web.AppKey("background", Background)
# The config's server section the app was created with (proxy/server.py reads the live one
# once a snapshot is in place).
SERVER_CONFIG = web.AppKey("server_config", ServerConfig)
# The state layer (store, health, gate, cache, client keys), and the two parts of it the
# request path uses, under the types of the ports they fill.
STATE_LAYER = web.AppKey("state_layer", StateLayer)
ABUSE_GATE = web.AppKey("abuse_gate", AbuseGate)
VERDICT_CACHE = web.AppKey("verdict_cache", VerdictCache)
# Hashes principals with the state layer's secret (built by create_app).
IDENTIFIER = web.AppKey("identifier", Identifier)
# Dialect name -> dialect: the generation APIs the router hands requests to.
DIALECTS = web.AppKey("dialects", dict[str, Dialect])
# Hot reload, when the app was created with a config path.
RELOADER = web.AppKey("reloader", ConfigReloader)
