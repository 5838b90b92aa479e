"""Who sent a request: the principal, as a keyed hash only.

Sources are tried in the configured order (``identity.sources``): the client's API key
(``Authorization: Bearer``), the body's ``user`` field, a configured header. The first
present one wins; none present gives the anonymous principal (not struck, not banned).

The hash is HMAC-SHA256(secret, "<source>:<value>") in hex: the same key gives the same
principal on every replica that shares the secret, and nothing stored, logged or counted
can be turned back into the key. The raw value is never kept.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from proxy.pipeline.ports import Principal
from proxy.state.settings import IdentityConfig, PrincipalSource

ANONYMOUS = Principal(None, "anonymous")


class Identifier:
    def __init__(self, config: IdentityConfig, secret: bytes) -> None:
        if not secret:
            raise ValueError("the principal hashing secret must not be empty")
        self.config = config
        self._secret = secret

    def identify(self, headers: Mapping[str, str], body: Mapping[str, Any] | None) -> Principal:
        for source in self.config.sources:
            value = self._value(source, headers, body)
            if value:
                return Principal(self.hash(source, value), source)
        return ANONYMOUS

    def hash(self, source: PrincipalSource, value: str) -> str:
        message = f"{source}:{value}".encode("utf-8", "surrogatepass")
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def _value(self, source: PrincipalSource, headers: Mapping[str, str],
               body: Mapping[str, Any] | None) -> str | None:
        if source == "api_key":
            return api_key_of(headers)
        if source == "user":
            user = body.get("user") if isinstance(body, Mapping) else None
            return user.strip() if isinstance(user, str) and user.strip() else None
        value = headers.get(self.config.header) or headers.get(self.config.header.lower())
        return value.strip() if value and value.strip() else None


def api_key_of(headers: Mapping[str, str]) -> str | None:
    """The key a client authenticates with, in whichever header its API uses: a Bearer
    token (OpenAI), ``x-api-key`` (Anthropic) or ``api-key`` (Azure OpenAI). One key is one
    principal whatever header carries it."""
    token = bearer_token(headers.get("Authorization") or headers.get("authorization"))
    if token:
        return token
    for name in ("x-api-key", "api-key"):
        value = headers.get(name) or headers.get(name.title())
        if value and value.strip():
            return value.strip()
    return None


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None
