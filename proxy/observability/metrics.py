"""Every Prometheus metric the proxy exports, declared here and nowhere else.

Names are ``safety_proxy_*`` in base units. Label values come from bounded sets only:
routes, directions, decisions, error kinds, and check/label names from the config, never a
user, key or free text. Combinations are pre-initialised so ``rate()`` works from zero.

Each app owns one ``Metrics`` with its own registry, so tests can run several proxies in
one process. The registry also carries prometheus_client's standard ``process_*`` (Linux)
and ``python_*`` collectors. ``_created`` series are off: they doubled every counter and
histogram for a timestamp no dashboard or rule reads (prometheus_client's switch for them is
process-wide: every registry of the process loses them).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping
from typing import Any, Self

import prometheus_client
from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    Info,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.metrics import MetricWrapperBase

from proxy import __version__

ROUTES = ("chat_completions", "responses", "completions", "messages", "embeddings", "moderations",
          "passthrough")
DIRECTIONS = ("input", "output")
DECISIONS = ("allow", "flag", "block")
# A request's outcome adds "unchecked" (something went through without its checks) and
# "refused" (a throttled or banned principal, turned away before any check).
REQUEST_DECISIONS = (*DECISIONS, "unchecked", "refused")
ERROR_KINDS = (
    "bad_request",
    "body_too_large",
    "too_many_texts",
    "upstream_unreachable",
    "upstream_timeout",
    "upstream_bad_response",
    "upstream_stream_broken",
    "client_disconnected",
    "slow_client",
    "principal_throttled",
    "principal_banned",
    "unauthenticated",
    "unavailable",
    "internal",
)
RELOAD_RESULTS = ("success", "failure")
# overloaded: the classifier's queue was full of other requests' texts (not a fault)
CHECK_OUTCOMES = ("ok", "error", "timeout", "overloaded")
STORE_OPERATIONS = ("admission", "record", "cache_get", "cache_set", "event")
UPSTREAM_STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx", "none")
# routes/forget.py: what became of one deletion of a blocked answer's stored parts.
DELETION_RESULTS = ("deleted", "not_found", "failed", "invalid_id")
# routes/generation.py: why a request sent during its input checks was withdrawn: the
# checks blocked it, its principal was refused at its charge, or it ended otherwise first
# (the client left, an error).
WITHDRAWAL_REASONS = ("blocked", "refused", "abandoned")
# What became of an image or PDF page given to OCR (proxy/pipeline/ocr.py).
OCR_OUTCOMES = ("text", "empty", "failed", "timeout", "unavailable", "skipped")
# What became of an image or PDF a request gave by URL (proxy/pipeline/fetch.py): fetched
# (and sent upstream inline), refused (an address not public), failed, timed out, too large,
# unsupported (not an image, or not a PDF), or skipped (past server.fetch.max_per_request,
# or fetching, OCR or file reading switched off).
FETCH_OUTCOMES = ("fetched", "refused", "failed", "timeout", "too_large", "unsupported",
                  "skipped")
# What became of an audio clip a request sent inline (proxy/pipeline/transcribe.py):
# transcribed (speech found), empty (none), cached (heard before: not sent again), failed
# (the service errored or answered nonsense), timed out, too large (past
# server.transcription.max_bytes, not sent), unsupported (not audio this proxy knows), or
# skipped (past max_per_request, or transcription switched off).
TRANSCRIPTION_OUTCOMES = ("transcribed", "empty", "cached", "failed", "timeout",
                          "too_large", "unsupported", "skipped")
# Where a slow client was when it was closed: its request line and headers, or its body.
SLOW_CLIENT_PHASES = ("headers", "body")
# Why a client key was refused (auth.mode: keys).
AUTH_FAILURES = ("missing", "unknown", "expired")
# Why an admin API request failed its token check: no Authorization header, a wrong one, or
# its peer address was over the failure limit (refused, its token not even compared).
ADMIN_AUTH_FAILURES = ("missing", "invalid", "rate_limited")

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
                   10, 30, 60)
SCORE_BUCKETS = (*(round(0.05 * step, 2) for step in range(1, 20)), 0.99, 1.0)


class _KeptChildren(MetricWrapperBase):
    """A labelled metric that keeps the child of each tuple of label values it was asked
    for: prometheus_client's ``labels()`` validates, converts and takes a lock on every
    call (~0.8 us), and a request asks a dozen times. Label values are bounded sets (module
    docstring), so the memo is too. ``remove``/``clear`` forget it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._kept: dict[tuple[Any, ...], Self] = {}

    def labels(self, *values: Any, **named: Any) -> Self:
        if named:
            return super().labels(*values, **named)
        child = self._kept.get(values)
        if child is None:
            child = self._kept[values] = super().labels(*values)
        return child

    def remove(self, *values: Any) -> None:
        self._kept = {}
        super().remove(*values)

    def clear(self) -> None:
        self._kept = {}
        super().clear()


class Counter(_KeptChildren, prometheus_client.Counter):
    pass


class Gauge(_KeptChildren, prometheus_client.Gauge):
    pass


class Histogram(_KeptChildren, prometheus_client.Histogram):
    def observe(self, amount: float, exemplar: dict[str, str] | None = None) -> None:
        """prometheus_client's ``observe``, its bucket found by bisection rather than by
        trying each bound in turn (the first bound at or above ``amount``: the same
        bucket); an exemplar, NaN (no bucket) or a metric with labels but no values (an
        error) as prometheus_client handles them."""
        if exemplar or amount != amount or (self._labelnames and not self._labelvalues):
            super().observe(amount, exemplar)
            return
        self._sum.inc(amount)
        self._buckets[bisect_left(self._upper_bounds, amount)].inc(1)


class Metrics:
    def __init__(self) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        ProcessCollector(registry=r)  # process_*: CPU, memory, file descriptors (Linux)
        PlatformCollector(registry=r)  # python_info
        GCCollector(registry=r)  # python_gc_*
        self.requests = Counter(
            "safety_proxy_requests", "Requests handled, by route and final decision.",
            ["route", "decision"], registry=r)
        self.moderations = Counter(
            "safety_proxy_moderations", "Moderations (one per direction per request).",
            ["direction", "decision"], registry=r)
        self.toxic = Counter(
            "safety_proxy_toxic", "Moderations where a toxic label reached toxic_threshold.",
            ["direction"], registry=r)
        self.refusals = Counter(
            "safety_proxy_refusals", "Answers the refusal label counted as refusals.", registry=r)
        self.classifier_score = Histogram(
            "safety_proxy_classifier_score", "Scores per check, label and direction.",
            ["classifier", "label", "direction"], buckets=SCORE_BUCKETS, registry=r)
        self.classifier_duration = Histogram(
            "safety_proxy_classifier_duration_seconds", "Time one check took on one request.",
            ["classifier"], buckets=LATENCY_BUCKETS, registry=r)
        self.check_outcomes = Counter(
            "safety_proxy_check_outcomes", "Check runs by outcome (ok, error, timeout).",
            ["classifier", "outcome"], registry=r)
        self.fail_open = Counter(
            "safety_proxy_fail_open", "Failed checks whose on_error let the request through.",
            ["classifier"], registry=r)
        self.upstream_duration = Histogram(
            "safety_proxy_upstream_duration_seconds",
            "Upstream time: until the full body (non-streamed) or the last chunk (streamed).",
            buckets=LATENCY_BUCKETS, registry=r)
        self.upstream_responses = Counter(
            "safety_proxy_upstream_responses", "Upstream answers by status class.",
            ["status_class"], registry=r)
        self.request_duration = Histogram(
            "safety_proxy_request_duration_seconds", "Whole request time in the proxy.",
            ["route"], buckets=LATENCY_BUCKETS, registry=r)
        self.errors = Counter(
            "safety_proxy_errors", "Errors by kind.", ["kind"], registry=r)
        self.slow_clients = Counter(
            "safety_proxy_slow_clients",
            "Connections closed for sending their request too slowly, by phase.",
            ["phase"], registry=r)
        self.auth_failures = Counter(
            "safety_proxy_auth_failures",
            "Requests refused for want of a valid client key (auth.mode: keys), by reason.",
            ["reason"], registry=r)
        self.admin_auth_failures = Counter(
            "safety_proxy_admin_auth_failures",
            "Admin API requests refused for their bearer token, by reason.",
            ["reason"], registry=r)
        self.config_reloads = Counter(
            "safety_proxy_config_reloads", "Config reloads by result.", ["result"], registry=r)
        self.stream_cuts = Counter(
            "safety_proxy_stream_cuts", "Streamed answers cut by a blocked window.",
            ["mode"], registry=r)
        self.blocked_answers_deleted = Counter(
            "safety_proxy_blocked_answers_deleted",
            "Deletions of what the upstream stored of a blocked answer (Responses API), "
            "by result.", ["result"], registry=r)
        self.withdrawn_requests = Counter(
            "safety_proxy_withdrawn_requests",
            "Requests sent upstream during their input checks (upstream.send_during_input_"
            "checks) and withdrawn before their answer was read, by reason: the provider "
            "received these prompts.", ["reason"], registry=r)
        self.ocr_reads = Counter(
            "safety_proxy_ocr_reads",
            "Images and PDF pages given to OCR (server.ocr), by outcome: text found, none, "
            "failed, timed out, no OCR program on the machine, or skipped (past its limits, "
            "or switched off).", ["outcome"], registry=r)
        self.url_fetches = Counter(
            "safety_proxy_url_fetches",
            "Images and PDFs given by URL, fetched to be read and sent upstream inline "
            "(server.fetch), by outcome; all but fetched stay URLs, unread.",
            ["outcome"], registry=r)
        self.transcriptions = Counter(
            "safety_proxy_transcriptions",
            "Audio clips sent inline, given to the speech-to-text service to be read "
            "(server.transcription), by outcome; all but transcribed, empty and cached "
            "stay unread.", ["outcome"], registry=r)
        self.unscanned_parts = Counter(
            "safety_proxy_unscanned_parts", "Content parts passed through unscanned (images...).",
            ["direction"], registry=r)
        self.stream_first_byte = Histogram(
            "safety_proxy_stream_first_byte_seconds",
            "Time from request start to the first content byte sent to a streaming client.",
            buckets=LATENCY_BUCKETS, registry=r)
        self.overhead = Histogram(
            "safety_proxy_overhead_seconds",
            "The proxy's own time per request: request time minus upstream time.",
            ["route"], buckets=LATENCY_BUCKETS, registry=r)
        self.batch_size = Histogram(
            "safety_proxy_classifier_batch_size", "Texts per model call of batching checks.",
            ["classifier"], buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256), registry=r)
        # abuse state (store)
        self.strikes = Counter(
            "safety_proxy_strikes", "Strikes added to principals, by decision.",
            ["decision"], registry=r)
        self.throttles = Counter(
            "safety_proxy_throttles", "Requests refused because the principal is throttled.",
            registry=r)
        self.bans = Counter(
            "safety_proxy_bans", "Principals banned (escalations, not refused requests).",
            registry=r)
        self.banned_requests = Counter(
            "safety_proxy_banned_requests", "Requests refused because the principal is banned.",
            registry=r)
        self.banned_principals = Gauge(
            "safety_proxy_banned_principals", "Principals banned now (read at scrape time).",
            registry=r)
        self.cache_lookups = Counter(
            "safety_proxy_verdict_cache", "Verdict cache lookups by result.",
            ["result"], registry=r)
        self.store_errors = Counter(
            "safety_proxy_store_errors", "Failed store operations.", ["operation"], registry=r)
        self.store_duration = Histogram(
            "safety_proxy_store_duration_seconds", "Store round trip time.",
            ["operation"], buckets=LATENCY_BUCKETS, registry=r)
        self.store_up = Gauge(
            "safety_proxy_store_up", "1 when the state store answers, 0 when degraded.",
            registry=r)
        self.shadow_decisions = Counter(
            "safety_proxy_shadow_decisions", "Decisions the shadow policy would have taken.",
            ["direction", "decision"], registry=r)
        self.shadow_disagreements = Counter(
            "safety_proxy_shadow_disagreements",
            "Moderations where the shadow policy decided otherwise than the live one.",
            ["direction", "live", "shadow"], registry=r)
        self.tenant_moderations = Counter(
            "safety_proxy_tenant_moderations",
            "Moderations per declared tenant (undeclared ones count as 'other').",
            ["tenant", "direction", "decision"], registry=r)
        self.redactions = Counter(
            "safety_proxy_redactions", "Spans masked in requests before they went upstream.",
            registry=r)
        self.config_last_reload_ok = Gauge(
            "safety_proxy_config_last_reload_successful",
            "1 when the last config reload succeeded (or none was tried), 0 after a failure.",
            registry=r)
        self.config_restart_required = Gauge(
            "safety_proxy_config_restart_required",
            "1 for a restart-only setting whose value in the config file differs from the "
            "running one: the running value stays in effect until a restart.",
            ["setting"], registry=r)
        self.build_info = Info("safety_proxy_build", "Version of the running proxy.", registry=r)
        self.config_info = Gauge(
            "safety_proxy_config_info", "1 for the loaded config, labelled by its hash.",
            ["sha256"], registry=r)
        self.build_info.info({"version": __version__})
        self._preinitialise()

    def _preinitialise(self) -> None:
        """Creates every series whose labels come from the bounded sets above, at zero, so
        ``rate()`` and ``absent()`` work from the first scrape."""
        self._preinitialise_routes()
        for direction in DIRECTIONS:
            self._preinitialise_direction(direction)
        for metric, values in self._one_label_series():
            for value in values:
                metric.labels(value)
        self.store_up.set(1)
        self.config_last_reload_ok.set(1)

    def _preinitialise_routes(self) -> None:
        for route in ROUTES:
            self.request_duration.labels(route)
            self.overhead.labels(route)
            for decision in REQUEST_DECISIONS:
                self.requests.labels(route, decision)

    def _preinitialise_direction(self, direction: str) -> None:
        self.toxic.labels(direction)
        self.unscanned_parts.labels(direction)
        for live in DECISIONS:
            self.moderations.labels(direction, live)
            self.shadow_decisions.labels(direction, live)
            for shadow in DECISIONS:
                if shadow != live:
                    self.shadow_disagreements.labels(direction, live, shadow)

    def _one_label_series(self) -> tuple[tuple[MetricWrapperBase, Iterable[str]], ...]:
        """Each metric with a single label, and that label's values."""
        return ((self.errors, ERROR_KINDS), (self.slow_clients, SLOW_CLIENT_PHASES),
                (self.auth_failures, AUTH_FAILURES),
                (self.admin_auth_failures, ADMIN_AUTH_FAILURES),
                (self.config_reloads, RELOAD_RESULTS),
                (self.upstream_responses, UPSTREAM_STATUS_CLASSES),
                (self.stream_cuts, ("buffered", "low_latency")),
                (self.blocked_answers_deleted, DELETION_RESULTS),
                (self.withdrawn_requests, WITHDRAWAL_REASONS),
                (self.ocr_reads, OCR_OUTCOMES), (self.url_fetches, FETCH_OUTCOMES),
                (self.transcriptions, TRANSCRIPTION_OUTCOMES),
                (self.strikes, ("flag", "block")), (self.cache_lookups, ("hit", "miss")),
                (self.store_errors, STORE_OPERATIONS), (self.store_duration, STORE_OPERATIONS))

    def count_ocr(self, outcomes: Mapping[str, int]) -> None:
        """Adds a request's OCR outcomes (proxy/pipeline/ocr.py)."""
        for outcome, count in outcomes.items():
            self.ocr_reads.labels(outcome).inc(count)

    def count_fetches(self, outcomes: Mapping[str, int]) -> None:
        """Adds a request's fetch outcomes (proxy/pipeline/fetch.py)."""
        for outcome, count in outcomes.items():
            self.url_fetches.labels(outcome).inc(count)

    def count_transcriptions(self, outcomes: Mapping[str, int]) -> None:
        """Adds a request's transcription outcomes (proxy/pipeline/transcribe.py)."""
        for outcome, count in outcomes.items():
            self.transcriptions.labels(outcome).inc(count)

    def declare_checks(self, checks: Iterable[tuple[str, Iterable[str], Iterable[str]]]) -> None:
        """Pre-initialises per-check series for (check name, labels, directions)."""
        for name, labels, directions in checks:
            self.classifier_duration.labels(name)
            self.batch_size.labels(name)
            self.fail_open.labels(name)
            for outcome in CHECK_OUTCOMES:
                self.check_outcomes.labels(name, outcome)
            for direction in directions:
                for label in labels:
                    self.classifier_score.labels(name, label, direction)

    def declare_tenants(self, tenants: Iterable[str]) -> None:
        for tenant in tenants:
            for direction in DIRECTIONS:
                for decision in DECISIONS:
                    self.tenant_moderations.labels(tenant, direction, decision)

    def set_restart_required(self, settings: Iterable[str], pending: Iterable[str]) -> None:
        """1 for each restart-only setting in ``pending``, 0 for the other ``settings``
        (the config layer owns the list: proxy.config.restart.RESTART_ONLY)."""
        pending = set(pending)
        for setting in settings:
            self.config_restart_required.labels(setting).set(1 if setting in pending else 0)

    def set_config_hash(self, sha256: str) -> None:
        self.config_info.clear()
        self.config_info.labels(sha256[:12]).set(1)


def status_class(status: int | None) -> str:
    return "none" if status is None else f"{status // 100}xx" if 200 <= status < 600 else "none"
