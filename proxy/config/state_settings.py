"""Config sections the state layer reads: store, identity, abuse, cache, events, admin.

They join ``ProxyConfig`` as top-level sections. Every field has a default, so the demo runs
on the in-process memory store with no state configuration at all.
"""

from __future__ import annotations

import os
import secrets
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from proxy.config.recording import TextRecording
from proxy.config.strict import Strict
from proxy.verdict import OnError


class StoreConfig(Strict):
    # "memory" (one process) or a Redis URL: redis://host:6379/0, rediss://..., unix://...
    url: str = "memory"
    url_env: str | None = None  # read the URL (it may hold a password) from this variable
    # A Redis Cluster: the URL names any one node (redis:// or rediss://, database 0); the
    # client discovers the others and routes each key to its node.
    cluster: bool = False
    # fail_open: serve requests and skip abuse checks while the store is down;
    # fail_closed: refuse requests (503) while it is down.
    on_error: OnError = "fail_open"
    timeout_s: float = Field(default=0.25, gt=0)
    connect_timeout_s: float = Field(default=0.5, gt=0)
    reconnect_min_s: float = Field(default=0.1, gt=0)
    reconnect_max_s: float = Field(default=5.0, gt=0)
    key_prefix: str = Field(default="safety-proxy", pattern=r"^[A-Za-z0-9_.-]+$")
    # Records made while the store is down wait here and are written once it is back.
    max_pending_records: int = Field(default=10_000, ge=0)

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if value != "memory" and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be 'memory' or a redis://, rediss:// or unix:// URL")
        return value

    @model_validator(mode="after")
    def _cluster_url(self) -> StoreConfig:
        if self.cluster and not self.url_env:
            self._check_cluster_url(self.url)
        return self

    def resolved_url(self) -> str:
        url = self.url
        if self.url_env and os.environ.get(self.url_env):
            url = self._known_scheme(os.environ[self.url_env])
        if self.cluster:
            self._check_cluster_url(url)
        return url

    @staticmethod
    def _check_cluster_url(url: str) -> None:
        """ValueError unless ``url`` can name a Redis Cluster node: TCP, database 0."""
        if not url.startswith(("redis://", "rediss://")):
            raise ValueError("store.cluster needs a redis:// or rediss:// URL (a cluster "
                             "has no memory or unix:// form)")
        if urlsplit(url).path.strip("/") not in ("", "0"):
            raise ValueError("store.cluster: a Redis Cluster has database 0 only")


UserField = Literal["safety_identifier", "user", "metadata.user_id"]


class IdentityConfig(Strict):
    """Who is struck. The principal is the client's key (any credential header); a request
    may also name its end user, read from ``user_fields`` (body, first present wins) or
    ``user_header``, honoured only from a caller trusted to name users (a key with
    ``name_users``; with auth.mode forward or none, every caller when ``trust_users``)."""

    user_fields: tuple[UserField, ...] = ("safety_identifier", "user", "metadata.user_id")
    user_header: str | None = "x-safety-user"
    trust_users: bool = False
    # Principals are stored as HMAC-SHA256(secret, source:value). Replicas sharing a store
    # must share the secret; without one, a random per-process secret is used (memory only).
    secret: SecretStr | None = None
    secret_env: str | None = "SAFETY_PROXY_PRINCIPAL_SECRET"

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: object) -> object:
        if isinstance(data, dict) and ({"sources", "header"} & data.keys()):
            raise ValueError("identity.sources and identity.header were replaced: the key is "
                             "always the principal; end users come from identity.user_fields "
                             "and identity.user_header (README: Authentication and identity)")
        return data

    def resolved_secret(self) -> bytes | None:
        if self.secret is not None:
            return self.secret.get_secret_value().encode()
        value = os.environ.get(self.secret_env) if self.secret_env else None
        return value.encode() if value else None

    def secret_or_random(self) -> bytes:
        return self.resolved_secret() or secrets.token_bytes(32)


class StrikeWeights(Strict):
    """What one flagged or blocked request weighs against its principal: the heaviest of
    its reasons. A redaction (a user sending their own e-mail address) and the model's own
    refusal are not abuse, so they weigh nothing by default; ``checks`` overrides the
    weights of one check's reasons, by action."""

    flag: float = Field(default=1.0, ge=0)
    block: float = Field(default=3.0, ge=0)
    redact: float = Field(default=0.0, ge=0)
    refusal: float = Field(default=0.0, ge=0)  # the policy's refusal_label, on answers
    checks: dict[str, dict[Literal["flag", "block", "redact"], float]] = Field(
        default_factory=dict)


def _check_escalates(throttle_at: float, ban_at: float) -> None:
    """ValueError when a ban would come before a throttle."""
    if ban_at < throttle_at:
        raise ValueError(f"ban_at ({ban_at}) must not be below throttle_at ({throttle_at})")


class ApplicationThresholds(Strict):
    """Where a key trusted to name its end users (an application's key) is throttled and
    banned: its users are struck on their own first, so one abusive user of an application
    does not refuse all of them; many abusive users still stop the key."""

    throttle_at: float = Field(default=60.0, gt=0)
    ban_at: float = Field(default=150.0, gt=0)

    @model_validator(mode="after")
    def _escalates(self) -> ApplicationThresholds:
        _check_escalates(self.throttle_at, self.ban_at)
        return self


class AbuseConfig(Strict):
    enabled: bool = True
    weights: StrikeWeights = Field(default_factory=StrikeWeights)
    window_s: float = Field(default=600.0, gt=0)  # sliding window the strikes are summed over
    throttle_at: float = Field(default=6.0, gt=0)  # weighted strikes in the window to throttle
    throttle_s: float = Field(default=60.0, gt=0)  # how long a throttle refuses requests (429)
    ban_at: float = Field(default=15.0, gt=0)  # weighted strikes in the window to ban
    ban_s: float = Field(default=3600.0, gt=0)  # how long a ban refuses requests (403)
    max_strikes: int = Field(default=1000, gt=0)  # strikes kept per principal (a bound, not a rule)
    application: ApplicationThresholds = Field(default_factory=ApplicationThresholds)
    # In-flight slots (opt-in; a flagged prompt is charged its strike before it is
    # forwarded, atomically, by default): each request in flight counts as this many
    # strikes until it is recorded (0: off, the default; None: weights.flag), which also
    # guards answers flagged on output alone. A principal is then admitted while strikes +
    # in_flight * in_flight_weight < throttle_at. It caps every principal's concurrency
    # (clean requests included; one pool per key, however many users share it) and costs a
    # release write per request: hence off by default.
    in_flight_weight: float | None = Field(default=0.0, ge=0)
    in_flight_ttl_s: float = Field(default=300.0, gt=0)  # a slot never released expires

    @property
    def slot_weight(self) -> float:
        return self.weights.flag if self.in_flight_weight is None else self.in_flight_weight

    @model_validator(mode="after")
    def _escalates(self) -> AbuseConfig:
        _check_escalates(self.throttle_at, self.ban_at)
        return self


class CacheConfig(Strict):
    enabled: bool = True
    ttl_s: float = Field(default=3600.0, gt=0)
    local_entries: int = Field(default=10_000, ge=0)  # in-process LRU in front of the store


class EventsConfig(TextRecording):
    # The review stream; text and truncate_chars (TextRecording): the texts an event keeps.
    enabled: bool = True
    max_len: int = Field(default=100_000, gt=0)  # approximate cap of the review stream


class AdminConfig(Strict):
    # The admin API is served only when a token is set (here or in the variable).
    token: SecretStr | None = None
    token_env: str | None = "SAFETY_PROXY_ADMIN_TOKEN"
    # Its own listener, on loopback by default: the API's paths are /admin/... there.
    host: str = "127.0.0.1"
    # 8082: next to the client port (8080) and the demo upstream's (8081); 0 picks a free
    # one (tests). null mounts /admin on the client port instead, where every client can
    # reach it (discouraged: kept for set-ups that cannot open a second port).
    port: int | None = Field(default=8082, ge=0, le=65535)
    # A peer address with this many failed token checks within the window is answered
    # 429 (with Retry-After), its token not even compared, until the window passes.
    max_auth_failures: int = Field(default=10, ge=1)
    auth_failure_window_s: float = Field(default=60.0, gt=0)
    # Peers whose failures are remembered (least recently failed forgotten first).
    auth_failure_peers: int = Field(default=10_000, ge=1)

    def resolved_token(self) -> str | None:
        if self.token is not None:
            return self.token.get_secret_value() or None
        return (os.environ.get(self.token_env) or None) if self.token_env else None
