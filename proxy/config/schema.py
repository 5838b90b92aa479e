"""The configuration schema. One validated, immutable object; every field has a default
except what a deployment must choose (the upstream's base URL).

Unknown keys are errors (a typo must not silently do nothing).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from classifiers.base import Direction
from proxy.config.auth import AuthConfig, open_relay_error
from proxy.config.recording import TextRecording
from proxy.config.state_settings import (
    AbuseConfig,
    AdminConfig,
    CacheConfig,
    EventsConfig,
    IdentityConfig,
    StoreConfig,
)
from proxy.config.strict import Strict
from proxy.verdict import OnError


class OcrConfig(Strict):
    """Text in images sent inline with a request, and on PDF pages that hold pictures,
    read by Tesseract (pipeline/ocr.py)."""

    # The tesseract executable (a name on PATH, or a path); "" reads no image. Absent from
    # the machine: images stay unread, and a warning says so once.
    command: str = "tesseract"
    languages: str = Field("eng", pattern=r"^[A-Za-z0-9_]+(\+[A-Za-z0-9_]+)*$")
    # An image not read within this (a huge or hostile one) stays unread; its process is
    # killed.
    timeout_s: float = Field(10.0, gt=0)
    # Images read per request, in the order they come; the rest stay unread.
    max_images: int = Field(8, ge=0)
    # Poppler's pdftoppm, which renders the PDF pages that hold pictures (or no text) to
    # be read as images; "" renders none (their pictures stay unread).
    pdf_command: str = "pdftoppm"
    # Such pages rendered and read per request (of the first max_attachment_pages of each
    # PDF, in order); the rest stay unread.
    max_pdf_pages: int = Field(4, ge=0)
    # The reader's address space (Linux): an image that decodes to more (a "decompression
    # bomb": a few kilobytes of PNG, gigabytes of pixels) fails to read and stays unread.
    max_memory_mb: int = Field(1024, ge=64)


class FetchConfig(Strict):
    """Images and PDFs a request gives by URL (http or https): fetched by the proxy, their
    text read like an inline one's, and sent upstream inline, so the model sees the very
    bytes that were checked (pipeline/fetch.py). Only public addresses are fetched."""

    enabled: bool = True
    # The whole fetch, redirects included; what is not fetched in time stays a URL, unread.
    timeout_s: float = Field(10.0, gt=0)
    max_bytes: int = Field(20 * 1024 * 1024, gt=0)  # a larger one stays a URL, unread
    max_redirects: int = Field(3, ge=0)
    # Images and PDFs fetched per request, in order (images only with OCR on, PDFs only
    # when server.max_attachment_pages reads files); the rest stay URLs, unread.
    max_per_request: int = Field(8, ge=0)
    # Networks fetched from besides the public internet (CIDRs: an internal image store);
    # loopback, private, link-local and other special addresses are refused otherwise.
    allow_networks: list[str] = Field(default_factory=list)

    @field_validator("allow_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for network in value:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"{network!r} is not a network (CIDR)") from None
        return value


class TranscriptionConfig(Strict):
    """Speech in audio sent inline with a request (Chat Completions and Responses
    ``input_audio`` parts), read as text by a speech-to-text service that speaks OpenAI's
    ``/v1/audio/transcriptions`` (OpenAI, Azure OpenAI, or a self-hosted Whisper server:
    faster-whisper-server, whisper.cpp's server, vLLM): pipeline/transcribe.py."""

    # The service's full URL, e.g. https://api.openai.com/v1/audio/transcriptions; "" reads
    # no audio (it stays unreadable: policy.unreadable_content decides).
    url: str = ""
    model: str = "whisper-1"
    api_key: SecretStr | None = None  # sent as a Bearer token; ${ENV} interpolation applies
    # An ISO-639-1 hint ("en"); "" lets the service detect the language.
    language: str = Field("", pattern=r"^([a-z]{2,3})?$")
    # A clip not transcribed within this stays unread (the call is abandoned).
    timeout_s: float = Field(30.0, gt=0)
    # Clips transcribed per request, side by side, in order; the rest stay unread.
    max_per_request: int = Field(4, ge=0)
    # A larger clip is not sent (OpenAI's own limit is 25 MB) and stays unread.
    max_bytes: int = Field(25 * 1024 * 1024, gt=0)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not value.lower().startswith(("http://", "https://")):
            raise ValueError("must be empty or start with http:// or https://")
        return value


class ServerConfig(Strict):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    max_body_bytes: int = Field(4 * 1024 * 1024, gt=0)
    # What one request may ask the checks to score: more is a 413 in the API's error format
    # (a request must never be able to exhaust a check's queue and so switch it off).
    max_texts_per_request: int = Field(4096, gt=0)
    max_text_chars_per_request: int = Field(1_000_000, gt=0)
    # Inline files (a PDF, a text file) are read as text (pipeline/attachments.py): at most
    # this many pages of a PDF; a longer one stays unreadable. 0: no file is read.
    max_attachment_pages: int = Field(50, ge=0)
    ocr: OcrConfig = Field(default_factory=OcrConfig)  # type: ignore[arg-type]
    fetch: FetchConfig = Field(default_factory=FetchConfig)  # type: ignore[arg-type]
    transcription: TranscriptionConfig = Field(
        default_factory=TranscriptionConfig)  # type: ignore[arg-type]
    # Slow clients: the request line and headers, then the whole body, must arrive within
    # these; a client that is slower is closed and counted.
    header_read_timeout_s: float = Field(10.0, gt=0)
    body_read_timeout_s: float = Field(60.0, gt=0)
    # Header a client may send its own request id in; echoed back as x-request-id.
    request_id_header: str = "x-request-id"
    # Graceful shutdown (SIGTERM, or SIGINT): for drain_s, /readyz answers 503 while every
    # request, new ones too, is still served (a load balancer's time to stop routing here);
    # then the listener closes and the requests and streams in flight get shutdown_timeout_s
    # to finish, after which they are cut. A second signal ends the drain at once. A
    # Kubernetes terminationGracePeriodSeconds must exceed their sum (the manifest: 45).
    drain_s: float = Field(5.0, ge=0)
    shutdown_timeout_s: float = Field(30.0, ge=0)


class UpstreamConfig(Strict):
    base_url: str = Field(description="OpenAI-compatible API root, e.g. https://api.openai.com/v1")
    # The key the proxy injects; when neither is set the client's Authorization is forwarded.
    api_key: SecretStr | None = None
    api_key_env: str | None = None
    # Where the injected key goes: "Authorization" (Bearer; OpenAI and compatibles),
    # "x-api-key" (Anthropic) or "api-key" (Azure OpenAI).
    api_key_header: Literal["Authorization", "x-api-key", "api-key"] = "Authorization"
    headers: dict[str, str] = Field(default_factory=dict)
    connect_timeout_s: float = Field(10.0, gt=0)
    # Longest silence between two reads; there is no total timeout, so long streams live.
    read_timeout_s: float = Field(300.0, gt=0)
    max_connections: int = Field(512, gt=0)
    # Send a request upstream while its input checks run, its answer held until they pass
    # (routes/generation.py): the checks' time leaves the answer's latency, but the provider
    # receives the prompts the policy blocks. A request that has the provider store or run
    # anything waits for its verdict all the same (protocol/side_effects.py).
    send_during_input_checks: bool = False

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")


class RoutesConfig(Strict):
    """Deny by default: the generation APIs are moderated by their dialects; any other API
    path is forwarded only when a rule here allows it (recorded as ``unchecked``)."""

    # "METHOD glob" over the API path after /v1/ (or /openai/ for Azure), e.g. "GET models/*".
    forward: tuple[str, ...] = ("GET models", "GET models/*")
    # Parts/items of unknown types: false answers 400; true forwards them as unchecked.
    forward_unknown_content: bool = False

    @field_validator("forward")
    @classmethod
    def _rules(cls, rules: tuple[str, ...]) -> tuple[str, ...]:
        for rule in rules:
            method, _, pattern = rule.partition(" ")
            if method not in _METHODS or not pattern or pattern.startswith("/") or " " in pattern:
                raise ValueError(f"{rule!r}: write a rule as 'METHOD path-glob', e.g. "
                                 "'GET models/*' (the path after /v1/, no leading slash)")
        return rules

    def forward_rules(self) -> list[tuple[str, str]]:
        return [tuple(rule.split(" ", 1)) for rule in self.forward]  # type: ignore[misc]


_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


class CheckConfig(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    type: str
    directions: tuple[Direction, ...] = ("input", "output")
    timeout_s: float = Field(2.0, gt=0)
    on_error: OnError = "fail_open"
    # Check texts window by window (true: streamed answers as they come, and long inputs
    # and whole answers split in windows, the highest score winning), or each text whole
    # (false: for remote judges, where a call per window costs too much).
    windows: bool = True
    # Also score canonical views of each text (Unicode NFKC, invisible characters removed,
    # look-alike letters, leetspeak, spaced letters, encoded runs), the highest score
    # winning. false: the check sees the raw text only (secret detectors). Unset: the
    # classifier type's default (on, except LLM judges: they read a disguise as well as
    # the text, and each view would be another paid judge call).
    normalize: bool | None = None
    options: dict[str, Any] = Field(default_factory=dict)


class Thresholds(Strict):
    flag: float | None = Field(None, ge=0, le=1)
    block: float | None = Field(None, ge=0, le=1)
    # Input only, for checks that can redact (type: rules): mask the matched spans before
    # the request goes upstream. A redaction counts as a flag.
    redact: float | None = Field(None, ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.flag is not None and self.block is not None and self.flag > self.block:
            raise ValueError(f"flag ({self.flag}) must not exceed block ({self.block})")
        return self


# direction policy: classifier name -> label -> thresholds
DirectionPolicy = dict[str, dict[str, Thresholds]]


class ThresholdPolicy(Strict):
    """Thresholds per direction: check name -> label -> {flag, block, redact}."""

    input: DirectionPolicy = Field(default_factory=dict)
    output: DirectionPolicy = Field(default_factory=dict)

    def for_direction(self, direction: Direction) -> DirectionPolicy:
        return self.input if direction == "input" else self.output

    @model_validator(mode="after")
    def _redact_on_input_only(self) -> ThresholdPolicy:
        for check_name, labels in self.output.items():
            for label, thresholds in labels.items():
                if thresholds.redact is not None:
                    raise ValueError(f"output.{check_name}.{label}: redact applies to input only")
        return self


class UnreadableContent(Strict):
    """What to do with request content no text classifier can read (images, audio, files,
    token prompts, server-side state): allow (counted only), flag, or block."""

    input: Literal["allow", "flag", "block"] = "allow"


class PolicyConfig(ThresholdPolicy):
    refusal_text: str = "I'm sorry, but I can't help with that request."
    unreadable_content: UnreadableContent = Field(default_factory=UnreadableContent)
    # error: HTTP 400 content_filter envelope; refusal: a 200 completion with refusal_text.
    input_block_style: Literal["error", "refusal"] = "error"
    # "check.label" names whose score at or above toxic_threshold makes a moderation toxic.
    toxic_labels: tuple[str, ...] = ()
    toxic_threshold: float = Field(0.5, ge=0, le=1)
    # "check.label" whose score at or above refusal_threshold counts an answer as a refusal.
    refusal_label: str | None = None
    refusal_threshold: float = Field(0.5, ge=0, le=1)


class TenantConfig(Strict):
    # Threshold overrides for this tenant, merged label by label over the live policy.
    policy: ThresholdPolicy = Field(default_factory=ThresholdPolicy)


class TenantsConfig(Strict):
    """Tenants are a bounded, declared set. A request's tenant comes from its client key
    (auth.mode: keys), or from ``header`` when the caller may assert it: a key with
    ``assert_tenant``, or any caller when ``trust_header`` says a gateway in front sets the
    header (and strips the client's own). Anything else is the tenant ``other``, with the
    base policy: a client never picks its own policy."""

    header: str = "x-tenant-id"
    trust_header: bool = False
    known: dict[str, TenantConfig] = Field(default_factory=dict)

    @field_validator("known")
    @classmethod
    def _bounded_names(cls, known: dict[str, TenantConfig]) -> dict[str, TenantConfig]:
        for name in known:
            if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,31}", name) or name == OTHER_TENANT:
                raise ValueError(f"tenant name {name!r}: use 1-32 of a-z 0-9 _ - (not 'other')")
        if len(known) > 100:
            raise ValueError("at most 100 tenants (they are metric label values)")
        return known


OTHER_TENANT = "other"


class StreamingConfig(Strict):
    # buffered: hold one window back so no blocked window reaches the client.
    # low_latency: relay at once, check windows concurrently, cut at the first blocked one.
    mode: Literal["buffered", "low_latency"] = "buffered"
    window_chars: int = Field(240, gt=0)
    # Tail of the already-checked text prepended to the next window, so a phrase split
    # across two windows is still seen whole.
    context_chars: int = Field(64, ge=0)


class LoggingConfig(TextRecording):
    # text and truncate_chars (TextRecording): the conversation texts the request's log
    # line keeps (off by default: never log conversation text).
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class ReloadConfig(Strict):
    watch: bool = True
    interval_s: float = Field(1.0, gt=0)


class ProxyConfig(Strict):
    server: ServerConfig = Field(default_factory=ServerConfig)  # type: ignore[arg-type]
    upstream: UpstreamConfig
    routes: RoutesConfig = Field(default_factory=RoutesConfig)
    checks: tuple[CheckConfig, ...] = ()
    policy: PolicyConfig = Field(default_factory=PolicyConfig)  # type: ignore[arg-type]
    # A candidate policy evaluated on live traffic beside the active one, on the same scores;
    # it never changes a response, only the safety_proxy_shadow_* metrics.
    shadow_policy: ThresholdPolicy | None = None
    tenants: TenantsConfig | None = None
    # Abuse state: strikes, throttles, bans, verdict cache, review stream, admin API.
    store: StoreConfig = Field(default_factory=StoreConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    identity: IdentityConfig = Field(default_factory=IdentityConfig)
    abuse: AbuseConfig = Field(default_factory=AbuseConfig)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    events: EventsConfig = Field(default_factory=EventsConfig)
    admin: AdminConfig = Field(default_factory=AdminConfig)
    streaming: StreamingConfig = Field(default_factory=StreamingConfig)  # type: ignore[arg-type]
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    reload: ReloadConfig = Field(default_factory=ReloadConfig)  # type: ignore[arg-type]

    def threshold_policies(self) -> list[tuple[str, ThresholdPolicy]]:
        """The live policy and, when configured, the shadow policy, with their config keys."""
        policies: list[tuple[str, ThresholdPolicy]] = [("policy", self.policy)]
        if self.shadow_policy is not None:
            policies.append(("shadow_policy", self.shadow_policy))
        for name, tenant in (self.tenants.known if self.tenants else {}).items():
            policies.append((f"tenants.known.{name}.policy", tenant.policy))
        return policies

    @model_validator(mode="after")
    def _references_resolve(self) -> ProxyConfig:
        names = [check.name for check in self.checks]
        duplicates = {name for name in names if names.count(name) > 1}
        if duplicates:
            raise ValueError(f"duplicate check names: {sorted(duplicates)}")
        for key, policy in self.threshold_policies():
            for direction in ("input", "output"):
                for check_name in policy.for_direction(direction):
                    if check_name not in names:
                        raise ValueError(
                            f"{key}.{direction}.{check_name}: no check named {check_name!r}")
        return self

    @model_validator(mode="after")
    def _auth_consistent(self) -> ProxyConfig:
        injects = self.upstream.api_key is not None or self.upstream.api_key_env is not None
        problem = open_relay_error(self.auth, injects)
        if problem:
            raise ValueError(problem)
        if self.auth.mode == "keys" and self.identity.resolved_secret() is None:
            raise ValueError("auth.mode: keys needs identity.secret (or the variable named by "
                             "identity.secret_env): client keys are stored as hashes keyed "
                             "with it")
        known = self.tenants.known if self.tenants else {}
        for key in self.auth.keys:
            if key.tenant is not None and key.tenant not in known:
                raise ValueError(f"auth.keys.{key.id}.tenant: no tenant named {key.tenant!r} "
                                 "in tenants.known")
        return self

    @model_validator(mode="after")
    def _nothing_redacted_after_sending(self) -> ProxyConfig:
        """A redaction masks the request before it goes upstream: never one already sent."""
        if not self.upstream.send_during_input_checks:
            return self
        for key, policy in self.threshold_policies():
            if key == "shadow_policy":  # never acted on
                continue
            for check_name, labels in policy.input.items():
                for label, thresholds in labels.items():
                    if thresholds.redact is not None:
                        raise ValueError(
                            f"{key}.input.{check_name}.{label}: redact cannot be used with "
                            "upstream.send_during_input_checks (a request is masked before "
                            "it is sent)")
        return self
