"""The app's long-lived resources, and the ``web.AppKey`` of each (no module globals): the
one module of the proxy app's keys. Two live elsewhere, because the module that reads them
sits on another floor: ``TRACING`` (observability/tracing.py reads it, below this one) and
``ADMIN_LISTENER`` (admin/listener.py, above this one, owns its type)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from aiohttp import web
from pydantic import SecretStr

from classifiers.tasks import spawn
from proxy.config.reload import ConfigReloader
from proxy.config.schema import (
    FetchConfig,
    ServerConfig,
    TranscriptionConfig,
    UpstreamConfig,
)
from proxy.config.snapshot import SnapshotHolder
from proxy.config.strict import Strict
from proxy.observability.metrics import Metrics
from proxy.pipeline.fetch import Fetcher
from proxy.pipeline.identify import Identifier
from proxy.pipeline.transcribe import Transcriber
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


class _Client(Protocol):
    async def close(self) -> None: ...


C = TypeVar("C", bound=Strict)
T = TypeVar("T", bound=_Client)


class PerConfig(Generic[C, T]):
    """One client per distinct config section (``make(config)``: the upstream's, a
    fetcher, a transcriber): a reload that changes the section gets a new client while requests in
    flight finish on the old one (every one closed at shutdown). A key in the section
    counts: its JSON dump masks secrets, so they are added back."""

    def __init__(self, make: Callable[[C], T]) -> None:
        self._make = make
        self._clients: dict[tuple[str, tuple[str, ...]], T] = {}
        self._last: tuple[C, T] | None = None  # the hot path's answer: the same section

    def get(self, config: C) -> T:
        if self._last is not None and self._last[0] is config:
            return self._last[1]
        secrets = tuple(value.get_secret_value() for value in config.__dict__.values()
                        if isinstance(value, SecretStr))
        identity = (config.model_dump_json(), secrets)
        client = self._clients.get(identity)
        if client is None:
            client = self._clients[identity] = self._make(config)
        self._last = (config, client)
        return client

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()


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
UPSTREAMS = web.AppKey("upstreams", PerConfig[UpstreamConfig, Upstream])
FETCHERS = web.AppKey("fetchers", PerConfig[FetchConfig, Fetcher])
TRANSCRIBERS = web.AppKey("transcribers", PerConfig[TranscriptionConfig, Transcriber])
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
