"""Who is calling: the client key checked as ``auth.mode`` says, the tenant it may use, the
end user it names. One call per request (``Identifier.caller``), before admission.

Contracts:
- One credential per request (``Authorization: Bearer``, ``x-api-key`` or ``api-key``):
  more than one distinct value is a 400 (only one could identify while all reach the
  upstream, so a banned key could ride behind a throwaway one).
- ``keys`` mode: the key must hash to an unexpired ``auth.keys`` entry, or to a key kept
  in the store (``stored``: looked up by the caller, asynchronously, for the hash that
  ``stored_key_wanted`` names), else Unauthorized (401, ``reason`` missing / unknown /
  expired). ``forward`` and ``none``: any key, or none.
- The principal is the key's keyed hash (anonymous without a key: never struck). An end
  user (``identity.user_fields``, ``identity.user_header``) is read only from a caller
  trusted to name users, and hashed under the key's hash, so two applications' "user-1"
  are two principals. Nothing raw is kept: every identifier is HMAC-SHA256(secret,
  "<source>:<value>") in hex, the same on every replica sharing the secret.
- The tenant comes from the key; ``tenants.header`` counts only for a key with
  ``assert_tenant`` or when ``tenants.trust_header`` says a gateway in front sets it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from proxy.config.auth import AuthConfig, ClientKey
from proxy.config.schema import OTHER_TENANT, ProxyConfig, TenantsConfig
from proxy.config.state_settings import IdentityConfig
from proxy.protocol.errors import BadRequest, Unauthorized
from proxy.state.ports import Principal, PrincipalSource

ANONYMOUS = Principal(None, "anonymous")
AuthFailure = Literal["missing", "unknown", "expired"]


@dataclass(frozen=True, slots=True)
class Caller:
    principal: Principal  # the key (anonymous without one)
    user: Principal | None = None  # the end user a trusted caller named
    tenant: str | None = None  # None: tenants are not configured
    key_id: str | None = None  # the client key's public id (auth.mode: keys)

    def principals(self) -> tuple[Principal, ...]:
        return (self.principal,) if self.user is None else (self.principal, self.user)


class Identifier:
    def __init__(self, secret: bytes) -> None:
        if not secret:
            raise ValueError("the principal hashing secret must not be empty")
        self._secret = secret
        self._index: tuple[AuthConfig | None, dict[str, ClientKey]] = (None, {})
        self._hashes: dict[tuple[str, str], str] = {}  # the last HASHES_KEPT hashed

    # The hashes of the identifiers seen lately, kept: a busy proxy sees the same few keys
    # over and over, and the HMAC cost as much as the rest of identifying. In memory only,
    # like the request that brought the identifier; emptied when full.
    HASHES_KEPT = 4096

    def hash(self, source: PrincipalSource, value: str) -> str:
        kept = self._hashes.get((source, value))
        if kept is not None:
            return kept
        message = f"{source}:{value}".encode("utf-8", "surrogatepass")
        hashed = hmac.new(self._secret, message, hashlib.sha256).hexdigest()
        if len(self._hashes) >= self.HASHES_KEPT:
            self._hashes.clear()
        self._hashes[source, value] = hashed
        return hashed

    def user_hash(self, user: str, key_hash: str | None) -> str:
        """An end user's principal, scoped to the key that named it."""
        return self.hash("user", f"{key_hash or ''}:{user}")

    def stored_key_wanted(self, config: ProxyConfig, headers: Mapping[str, str]) -> str | None:
        """The key hash to look up in the store before ``caller``: keys mode, a credential,
        and no ``auth.keys`` entry of that hash."""
        credential = api_key_of(headers)
        if config.auth.mode != "keys" or credential is None:
            return None
        key_hash = self.hash("api_key", credential)
        return None if key_hash in self._keys(config.auth) else key_hash

    def caller(self, config: ProxyConfig, headers: Mapping[str, str],
               body: Mapping[str, Any] | None, now: datetime,
               stored: ClientKey | None = None) -> Caller:
        """Raises BadRequest (several credentials) or Unauthorized (keys mode).
        ``stored``: the store's key for the hash ``stored_key_wanted`` named, if any."""
        one_credential(headers)
        credential = api_key_of(headers)
        key = self._client_key(config.auth, credential, now, stored)
        principal = ANONYMOUS
        names_users = key.name_users if key else config.identity.trust_users
        if credential is not None:
            principal = Principal(self.hash("api_key", credential), "api_key",
                                  application=names_users)
        user = end_user(config.identity, headers, body) if names_users else None
        return Caller(
            principal,
            Principal(self.user_hash(user, principal.key_hash), "user") if user else None,
            tenant_of(config.tenants, key, headers), key.id if key else None)

    def _client_key(self, auth: AuthConfig, credential: str | None, now: datetime,
                    stored: ClientKey | None) -> ClientKey | None:
        if auth.mode != "keys":
            return None
        if credential is None:
            raise unauthorized("missing")
        key_hash = self.hash("api_key", credential)
        key = self._keys(auth).get(key_hash)
        if key is None and stored is not None and stored.hash == key_hash:
            key = stored
        if key is None:
            raise unauthorized("unknown")
        if key.expired(now):
            raise unauthorized("expired")
        return key

    def _keys(self, auth: AuthConfig) -> dict[str, ClientKey]:
        """The keys by hash, indexed once per config (a reload brings a new AuthConfig)."""
        if self._index[0] is not auth:
            self._index = (auth, auth.by_hash())
        return self._index[1]


# reason -> (message, code); the message never quotes the key.
_AUTH_FAILURES: dict[AuthFailure, tuple[str, str]] = {
    "missing": ("this proxy requires an API key (Authorization: Bearer, x-api-key or "
                "api-key)", "missing_api_key"),
    "unknown": ("the API key is not valid for this proxy", "invalid_api_key"),
    "expired": ("the API key has expired", "expired_api_key"),
}


def unauthorized(reason: AuthFailure) -> Unauthorized:
    message, code = _AUTH_FAILURES[reason]
    return Unauthorized(message, code=code, reason=reason,
                        headers={"WWW-Authenticate": "Bearer", "x-should-retry": "false"})


def tenant_of(tenants: TenantsConfig | None, key: ClientKey | None,
              headers: Mapping[str, str]) -> str | None:
    """A declared tenant, ``other``, or None when tenants are off. Never the client's
    choice unless the key (or the deployment) allows it to assert one."""
    if tenants is None:
        return None
    asserted = headers.get(tenants.header, "")
    if asserted and (tenants.trust_header or (key is not None and key.assert_tenant)):
        return asserted if asserted in tenants.known else OTHER_TENANT
    # a stored key may name a tenant the config no longer declares
    own = key.tenant if key is not None else None
    return own if own in tenants.known else OTHER_TENANT


def end_user(identity: IdentityConfig, headers: Mapping[str, str],
             body: Mapping[str, Any] | None) -> str | None:
    """The end user the request names: the first of ``user_fields`` present in the body,
    then ``user_header``."""
    for name in identity.user_fields if isinstance(body, Mapping) else ():
        value = _body_value(body, name)  # type: ignore[arg-type]
        if value:
            return value
    if identity.user_header:
        return _text(headers.get(identity.user_header))
    return None


def _body_value(body: Mapping[str, Any], name: str) -> str | None:
    if name == "metadata.user_id":  # Anthropic Messages
        metadata = body.get("metadata")
        return _text(metadata.get("user_id")) if isinstance(metadata, Mapping) else None
    return _text(body.get(name))


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


CREDENTIAL_HEADERS = ("Authorization", "x-api-key", "api-key")


def one_credential(headers: Mapping[str, str]) -> None:
    """BadRequest when a request carries more than one distinct credential (two
    Authorization headers, or a Bearer token and another x-api-key)."""
    first = ""
    for name in CREDENTIAL_HEADERS:
        for value in _all(headers, name):
            credential = _credential(value)
            if credential and first and credential != first:
                raise BadRequest("the request carries more than one credential; send one "
                                 "API key", code="several_credentials")
            first = first or credential


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
    token (OpenAI), ``x-api-key`` (Anthropic) or ``api-key`` (Azure OpenAI); any other
    Authorization scheme (Basic...) is its whole value. One key is one principal whatever
    header carries it."""
    authorization = (headers.get("Authorization") or headers.get("authorization") or "").strip()
    token = bearer_token(authorization)
    if token:
        return token
    if authorization and authorization.partition(" ")[0].lower() != "bearer":
        return authorization
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
