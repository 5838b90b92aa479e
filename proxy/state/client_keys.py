"""Client keys kept in the store (auth.mode: keys): made and revoked at run time, through
the admin API or the CLI, beside the config's ``auth.keys``.

Contract: ``find`` answers whether a key hash names a stored key, from a local cache of
``ttl_s`` seconds per hash (found or not; bounded), so a request reads the store only for
a hash not seen lately, and a key made or revoked on one replica counts on every replica
within ``ttl_s``. A store that cannot answer raises StoreError: a key that cannot be
verified is never let through (the caller answers 503). Records hold the key's hash and
settings (JSON of ClientKey), never the key.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from pydantic import ValidationError

from proxy.config.auth import ClientKey
from proxy.config.schema import ProxyConfig
from proxy.state.base import Store, StoreError
from proxy.state.health import StoreHealth
from proxy.state.memory import ExpiringMap

CACHE_S = 5.0
_CACHED_HASHES = 10_000


class DuplicateKeyId(ValueError):
    """A key already has this id (ids name keys in logs, events and revocations)."""


class UndeclaredTenant(ValueError):
    """A new key names a tenant the config does not declare."""


def check_new_key(key: ClientKey, config: ProxyConfig) -> None:
    """What the running config decides about a key made at run time: its tenant is
    declared and no auth.keys entry has its id (raises UndeclaredTenant, DuplicateKeyId)."""
    known = config.tenants.known if config.tenants else {}
    if key.tenant is not None and key.tenant not in known:
        raise UndeclaredTenant(f"tenant: no tenant named {key.tenant!r} in tenants.known")
    if any(entry.id == key.id for entry in config.auth.keys):
        raise DuplicateKeyId(f"a key in the config file is already named {key.id!r}")


class StoredKeys:
    def __init__(self, store: Store, health: StoreHealth, *, ttl_s: float = CACHE_S,
                 clock: Callable[[], float] = time.time) -> None:
        self.store, self.health, self._ttl_ms, self._clock = store, health, ttl_s * 1000, clock
        self._seen: ExpiringMap[tuple[ClientKey | None]] = ExpiringMap(_CACHED_HASHES)

    async def find(self, key_hash: str) -> ClientKey | None:
        """The stored key of this hash, or None; StoreError when the store cannot say."""
        now_ms = int(self._clock() * 1000)
        cached = self._seen.get(key_hash, now_ms)
        if cached is not None:
            return cached[0]
        if not self.health.up:  # down: not even a timeout's wait
            self.health.skipped("admission")
            raise StoreError("the state store is down")
        async with self.health.timed("admission"):
            record = await self.store.client_key(key_hash)
        key = _parsed(record)
        self._seen.set(key_hash, (key,), int(now_ms + self._ttl_ms))
        return key

    async def all(self) -> list[ClientKey]:
        keys = [_parsed(record) for record in (await self.store.client_keys()).values()]
        return sorted((key for key in keys if key is not None), key=lambda key: key.id)

    async def create(self, key: ClientKey) -> None:
        """Stores ``key``; DuplicateKeyId when a stored key has its id."""
        if any(existing.id == key.id for existing in await self.all()):
            raise DuplicateKeyId(f"a stored key is already named {key.id!r}")
        await self.store.put_client_key(key.hash, key.model_dump_json(exclude_defaults=True))
        self._seen.pop(key.hash)

    async def revoke(self, key_id: str) -> bool:
        """Deletes the stored key named ``key_id``; False when there is none. Other replicas
        stop accepting it within the cache time."""
        for key in await self.all():
            if key.id == key_id:
                self._seen.pop(key.hash)
                return await self.store.delete_client_key(key.hash)
        return False


def _parsed(record: str | None) -> ClientKey | None:
    """A stored record as a ClientKey; None for none, or for a record this version cannot
    read (never trusted half-read)."""
    if record is None:
        return None
    try:
        return ClientKey.model_validate_json(record)
    except ValidationError:
        return None
