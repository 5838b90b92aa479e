"""The ``auth`` section: who may use the proxy, and what each client key is trusted with.

Modes:
  forward  clients bring their upstream key; the upstream checks it, the proxy only hashes it
           into the principal (the default: the proxy injects no key of its own).
  keys     clients authenticate with the proxy's own keys (``auth.keys``), each bound to a
           tenant; a request without a valid, unexpired key is a 401 in the API's format.
  none     no authentication (a trusted gateway in front does it).

A proxy that injects the upstream key (``upstream.api_key`` / ``api_key_env``) serves the
model to whoever reaches it unless it checks its own keys, so the schema refuses that
combination with ``forward`` or ``none``, unless ``allow_open_relay`` says so.

A key is stored only as its keyed hash: HMAC-SHA256(identity secret, "api_key:<key>"), the
same hash that names the key as a principal, so its bans, strikes and events are its own.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, Field, field_validator

from proxy.config.strict import Strict

_KEY_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
KEY_PREFIX = "sp-"  # recognisable by secret scanners; 256 random bits follow


def new_key() -> str:
    """A new client key: shown once to whoever makes it, kept only as its hash."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


class ClientKey(Strict):
    """One client key of ``auth.mode: keys``. ``safety-proxy keys create`` makes one."""

    # A public name for the key (logs, events, the admin API); never the key itself.
    id: str
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")  # HMAC-SHA256 of the key, hex
    # The tenant the key's requests belong to (a name declared in tenants.known); unset:
    # tenant "other" (the base policy).
    tenant: str | None = None
    # A platform key serving many tenants: may name another declared tenant in
    # tenants.header (the key's own tenant when the header is absent).
    assert_tenant: bool = False
    # An application key whose end users are named in the request (safety_identifier,
    # user, metadata.user_id, identity.user_header): strikes count against the end user
    # (abuse thresholds) and against the key (abuse.application thresholds).
    name_users: bool = False
    expires: AwareDatetime | None = None  # ISO 8601 with a zone; past it: 401 expired

    @field_validator("id")
    @classmethod
    def _safe_id(cls, value: str) -> str:
        if not _KEY_ID.fullmatch(value):
            raise ValueError("use 1-64 of a-z 0-9 _ . - (starting with a letter or digit)")
        return value

    def expired(self, now: datetime) -> bool:
        return self.expires is not None and now >= self.expires


class AuthConfig(Strict):
    mode: Literal["forward", "keys", "none"] = "forward"
    keys: tuple[ClientKey, ...] = ()
    # Serve the upstream key to unauthenticated clients (auth.mode: none with an injected
    # upstream key): an explicit, logged choice, never a default.
    allow_open_relay: bool = False

    @field_validator("keys")
    @classmethod
    def _unique(cls, keys: tuple[ClientKey, ...]) -> tuple[ClientKey, ...]:
        for attribute in ("id", "hash"):
            values = [getattr(key, attribute) for key in keys]
            repeated = sorted({value for value in values if values.count(value) > 1})
            if repeated:
                shown = repeated if attribute == "id" else f"{len(repeated)} hash(es)"
                raise ValueError(f"auth.keys: duplicate {attribute}: {shown}")
        return keys

    def by_hash(self) -> dict[str, ClientKey]:
        return {key.hash: key for key in self.keys}


def open_relay_error(auth: AuthConfig, injects_key: bool) -> str | None:
    """Why this auth config must not run in front of an injected upstream key, or None."""
    if not injects_key or auth.mode == "keys" or auth.allow_open_relay:
        return None
    if auth.mode == "forward":
        return ("upstream.api_key is injected, so the client's own key never reaches the "
                "upstream and nothing checks it: set auth.mode: keys (the proxy's own client "
                "keys), or auth.mode: none with auth.allow_open_relay: true")
    return ("auth.mode: none with an injected upstream.api_key serves the model to anyone who "
            "reaches the proxy: set auth.mode: keys, or auth.allow_open_relay: true if a "
            "gateway in front authenticates every client")

