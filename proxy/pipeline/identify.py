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
from proxy.protocol.errors import BadRequest
from proxy.state.settings import IdentityConfig, PrincipalSource

ANONYMOUS = Principal(None, "anonymous")


class Identifier:
    def __init__(self, config: IdentityConfig, secret: bytes) -> None:
        if not secret:
            raise ValueError("the principal hashing secret must not be empty")
        self.config = config
        self._secret = secret

    def identify(self, headers: Mapping[str, str], body: Mapping[str, Any] | None) -> Principal:
        """The principal; BadRequest when the request carries several credentials."""
        one_credential(headers)
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


CREDENTIAL_HEADERS = ("Authorization", "x-api-key", "api-key")


def one_credential(headers: Mapping[str, str]) -> None:
    """BadRequest when a request carries more than one distinct credential (two
    Authorization headers, or a Bearer token and another x-api-key): only one could
    identify the principal while all reach the upstream, so a banned key could ride
    behind a throwaway one."""
    values = {_credential(value) for name in CREDENTIAL_HEADERS for value in _all(headers, name)}
    if len(values - {""}) > 1:
        raise BadRequest("the request carries more than one credential; send one API key",
                         code="several_credentials")


def _all(headers: Mapping[str, str], name: str) -> list[str]:
    getall = getattr(headers, "getall", None)  # a multidict keeps repeated headers
    if getall is not None:
        return list(getall(name, []))
    value = headers.get(name) or headers.get(name.lower())
    return [value] if value else []


def _credential(value: str) -> str:
    scheme, _, token = value.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else value.strip()


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
