"""Config sections of the state layer: store, identity, abuse, cache, events, admin.

They join ``ProxyConfig`` as top-level sections. Every field has a default, so the demo runs
on the in-process memory store with no state configuration at all.
"""

from __future__ import annotations

import os
import secrets
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

PrincipalSource = Literal["api_key", "user", "header"]
TextMode = Literal["off", "truncated", "full"]
OnError = Literal["fail_open", "fail_closed"]


class Strict(BaseModel):
    """Same rules as proxy.config.schema.Strict (unknown keys are errors, frozen). Not
    imported from there: schema.py imports these sections, so that would be an import cycle."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class StoreConfig(Strict):
    # "memory" (one process) or a Redis URL: redis://host:6379/0, rediss://..., unix://...
    url: str = "memory"
    url_env: str | None = None  # read the URL (it may hold a password) from this variable
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

    def resolved_url(self) -> str:
        if self.url_env and os.environ.get(self.url_env):
            return self._known_scheme(os.environ[self.url_env])
        return self.url


class IdentityConfig(Strict):
    # Tried in this order; the first present wins. None present: the anonymous principal.
    sources: tuple[PrincipalSource, ...] = ("api_key", "user", "header")
    header: str = "x-safety-principal"
    # Principals are stored as HMAC-SHA256(secret, source:value). Replicas sharing a store
    # must share the secret; without one, a random per-process secret is used (memory only).
    secret: SecretStr | None = None
    secret_env: str | None = "SAFETY_PROXY_PRINCIPAL_SECRET"

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


class AbuseConfig(Strict):
    enabled: bool = True
    weights: StrikeWeights = Field(default_factory=StrikeWeights)
    window_s: float = Field(default=600.0, gt=0)  # sliding window the strikes are summed over
    throttle_at: float = Field(default=6.0, gt=0)  # weighted strikes in the window to throttle
    throttle_s: float = Field(default=60.0, gt=0)  # how long a throttle refuses requests (429)
    ban_at: float = Field(default=15.0, gt=0)  # weighted strikes in the window to ban
    ban_s: float = Field(default=3600.0, gt=0)  # how long a ban refuses requests (403)
    max_strikes: int = Field(default=1000, gt=0)  # strikes kept per principal (a bound, not a rule)
    # Race-free admission (opt-in): each request in flight counts as this many strikes
    # until it is recorded (0: off, the default; None: weights.flag). A principal is then
    # admitted while strikes + in_flight * in_flight_weight < throttle_at, so however many
    # requests it sends at once, at most ceil(throttle_at / in_flight_weight) run from a
    # clean start. It caps every principal's concurrency (clean requests included) and
    # costs a release write per request: off by default until strikes are keyed per end
    # user (a key shared by an application's users would be capped as one).
    in_flight_weight: float | None = Field(default=0.0, ge=0)
    in_flight_ttl_s: float = Field(default=300.0, gt=0)  # a slot never released expires

    @property
    def slot_weight(self) -> float:
        return self.weights.flag if self.in_flight_weight is None else self.in_flight_weight

    @model_validator(mode="after")
    def _escalates(self) -> AbuseConfig:
        if self.ban_at < self.throttle_at:
            raise ValueError(f"ban_at ({self.ban_at}) must not be below throttle_at "
                             f"({self.throttle_at})")
        return self


class CacheConfig(Strict):
    enabled: bool = True
    ttl_s: float = Field(default=3600.0, gt=0)
    local_entries: int = Field(default=10_000, ge=0)  # in-process LRU in front of the store


class EventsConfig(Strict):
    enabled: bool = True
    max_len: int = Field(default=100_000, gt=0)  # approximate cap of the review stream
    text: TextMode = "off"
    truncate_chars: int = Field(default=200, gt=0)

    @field_validator("text", mode="before")
    @classmethod
    def _yaml_off(cls, value: object) -> object:
        return "off" if value is False else value  # YAML 1.1 reads a bare `off` as false


class AdminConfig(Strict):
    # The admin API is mounted only when a token is set (here or in the variable).
    token: SecretStr | None = None
    token_env: str | None = "SAFETY_PROXY_ADMIN_TOKEN"

    def resolved_token(self) -> str | None:
        if self.token is not None:
            return self.token.get_secret_value() or None
        return (os.environ.get(self.token_env) or None) if self.token_env else None
