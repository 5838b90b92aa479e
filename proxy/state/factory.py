"""Builds the state layer (store, health, gate, verdict cache) from the config's sections.

create_app builds one StateLayer (``build_state``, no I/O); the app's cleanup_ctx starts it
and closes it on shutdown. A store that is down at start is not an error: the layer starts
degraded and reconnects in the background. The layer also settles the secret principals
are hashed with (a shared store needs a configured one); the app builds the pipeline's
Identifier from it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, cast

import structlog

from proxy.config.loader import ConfigError, load_file
from proxy.config.state_settings import (
    AbuseConfig,
    AdminConfig,
    CacheConfig,
    EventsConfig,
    IdentityConfig,
    StoreConfig,
)
from proxy.observability.metrics import Metrics
from proxy.state.base import Store, StoreError
from proxy.state.cache import StoreVerdictCache
from proxy.state.client_keys import StoredKeys
from proxy.state.gate import StoreAbuseGate
from proxy.state.health import StoreHealth
from proxy.state.keys import Keys
from proxy.state.memory import MemoryStore
from proxy.state.ports import NoVerdictCache, VerdictCache
from proxy.state.redis_store import RedisStore

log = structlog.get_logger("safety_proxy.state")


class StateSettings(Protocol):
    """The config sections the state layer reads (ProxyConfig has them all)."""

    @property
    def store(self) -> StoreConfig: ...
    @property
    def identity(self) -> IdentityConfig: ...
    @property
    def abuse(self) -> AbuseConfig: ...
    @property
    def cache(self) -> CacheConfig: ...
    @property
    def events(self) -> EventsConfig: ...
    @property
    def admin(self) -> AdminConfig: ...


@dataclass(slots=True)
class StateLayer:
    settings: StateSettings
    store: Store
    health: StoreHealth
    gate: StoreAbuseGate
    cache: VerdictCache
    # The key of the principals' keyed hashes (never in a repr).
    principal_secret: bytes = field(repr=False)
    client_keys: StoredKeys  # auth.mode keys: keys made at run time (admin API, CLI)

    @property
    def degraded(self) -> bool:
        """True while the store does not answer (``/readyz`` reports it)."""
        return not self.health.up

    async def start(self) -> None:
        """Checks the store once; down is not an error (degraded, reconnecting)."""
        try:
            async with self.health.timed("admission"):
                await self.store.ping()
        except StoreError:
            log.warning("store_unavailable_at_start", on_error=self.settings.store.on_error)

    async def refresh_metrics(self) -> None:
        """Sets the banned-principals gauge; call before rendering /metrics."""
        if not self.health.up:
            return
        try:
            async with self.health.timed("admission"):
                count = await self.store.banned_count(int(self.gate.clock() * 1000))
        except StoreError:
            return
        self.health.metrics.banned_principals.set(count)

    async def flush(self) -> None:
        """Waits for the verdict cache's background writes."""
        if isinstance(self.cache, StoreVerdictCache):
            await self.cache.close()

    async def close(self) -> None:
        await self.health.close()
        await self.flush()
        await self.store.close()


def build_store(config: StoreConfig) -> Store:
    """ConfigError when ``store.url_env`` names a variable that is not set: falling back to
    the in-memory store would silently stop replicas sharing bans and strikes."""
    if config.url_env and not os.environ.get(config.url_env):
        raise ConfigError(f"store.url_env names {config.url_env}, which is not set (or empty): "
                          "set it to the Redis URL, or remove url_env to use store.url")
    url = config.resolved_url()
    if url == "memory":
        return MemoryStore()
    return RedisStore(url, Keys(config.key_prefix), cluster=config.cluster,
                      timeout_s=config.timeout_s, connect_timeout_s=config.connect_timeout_s)


def principal_secret(settings: StateSettings, store: Store) -> bytes:
    secret = settings.identity.resolved_secret()
    if secret is None and store.kind != "memory":
        raise ConfigError("identity.secret (or the variable named by identity.secret_env) is "
                         "required with a shared store: replicas must hash principals alike")
    if secret is None:
        log.info("principal_secret_random", reason="no identity secret configured")
    return secret or settings.identity.secret_or_random()


def build_state(settings: StateSettings, metrics: Metrics, *,
                clock: Callable[[], float] = time.time) -> StateLayer:
    """Builds the layer without I/O (safe inside create_app); ``start`` connects."""
    store = build_store(settings.store)
    secret = principal_secret(settings, store)
    health = StoreHealth(store, metrics, reconnect_min_s=settings.store.reconnect_min_s,
                         reconnect_max_s=settings.store.reconnect_max_s)
    gate = StoreAbuseGate(store, health, metrics, store_config=settings.store,
                          abuse=settings.abuse, events=settings.events, clock=clock)
    cache: VerdictCache = NoVerdictCache()
    if settings.cache.enabled:
        keys = Keys(settings.store.key_prefix)
        cache = StoreVerdictCache(store, health, metrics, keys, settings.cache, clock)
    return StateLayer(settings, store, health, gate, cache, secret,
                      StoredKeys(store, health, clock=clock))


async def start_state(settings: StateSettings, metrics: Metrics, *,
                      clock: Callable[[], float] = time.time) -> StateLayer:
    layer = build_state(settings, metrics, clock=clock)
    await layer.start()
    return layer


class NoSharedStore(ConfigError):
    """The config names the memory store, whose state only the proxy process itself sees."""


def open_cli_store(config_path: str | Path) -> tuple[StateSettings, Store]:
    """The store a config file names, for the CLI. Raises NoSharedStore for a memory store:
    its state lives inside the proxy process (use the admin API there)."""
    settings = cast(StateSettings, load_file(config_path).config)
    if settings.store.resolved_url() == "memory":
        raise NoSharedStore(f"{config_path}: store.url is 'memory': that state lives inside the "
                          "proxy process; use its admin API or configure a Redis store")
    return settings, build_store(settings.store)
