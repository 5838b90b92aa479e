"""OpenTelemetry tracing (the optional ``otel`` extra): one span tree per proxied request.

Enabled by the standard ``OTEL_*`` environment variables alone, read once at start
(``Tracing.start_from_env``), and only when the extra is installed:

- ``OTEL_SDK_DISABLED=true`` switches it off whatever else is set;
- ``OTEL_TRACES_EXPORTER``: ``otlp`` (OTLP over HTTP/protobuf), ``console`` (stdout), or
  ``none`` (off); a comma-separated list exports to each;
- unset, tracing is on (exporter ``otlp``) only when an OTLP endpoint is named
  (``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``): an install
  that carries the extra but names no collector does not export into the void.

The rest is the SDK's: ``OTEL_SERVICE_NAME`` (default here ``safety-proxy``),
``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER(_ARG)``, ``OTEL_PROPAGATORS``,
``OTEL_EXPORTER_OTLP_*`` (endpoint, headers, timeout...), ``OTEL_BSP_*``.

Spans: a SERVER span per request (``serve``: ``request_span``) continuing the client's
trace context; an INTERNAL span per check run (``traced_check``); a CLIENT span per upstream
call (``traced_upstream``) whose context is injected as ``traceparent``/``tracestate``.
Off, every hook is one context-variable read or one attribute test: the proxy forwards the
client's ``traceparent`` untouched, as it always did.

Contract: no span attribute, event or status description ever holds a prompt, an answer,
a header value, a key, a principal or a query string: only bounded names (route templates,
check names and types from the config, decisions, error kinds, exception type names),
the model names, counts, and the upstream's host and port.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import structlog
import yarl
from aiohttp import web
from multidict import CIMultiDict

from proxy.protocol.dialect import Dialect, ParsedRequest
from proxy.verdict import CheckFailure

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

log = structlog.get_logger("safety_proxy.tracing")
T = TypeVar("T")
DEFAULT_SERVICE_NAME = "safety-proxy"
# dialect -> gen_ai.operation.name (OpenTelemetry GenAI semantic conventions)
_OPERATIONS = {"chat_completions": "chat", "responses": "chat", "messages": "chat",
               "completions": "text_completion", "embeddings": "embeddings"}
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE",
                      "PATCH"})
_OWN_PROPAGATION = ("traceparent", "tracestate")


class TracedRequest(Protocol):
    """What tracing reads of a request (pipeline/context.py's RequestContext has it all): never
    its texts or its principal."""

    @property
    def route(self) -> str: ...
    @property
    def dialect(self) -> Dialect: ...
    @property
    def parsed(self) -> ParsedRequest | None: ...
    @property
    def outcome_label(self) -> str: ...
    @property
    def checks_run(self) -> list[str]: ...
    @property
    def blocked_directions(self) -> list[str]: ...
    @property
    def stream_cut(self) -> bool: ...
    @property
    def error_kind(self) -> str | None: ...


@dataclass(slots=True)
class _RequestTrace:
    """The running request's tracer and server span (``_ACTIVE``)."""

    tracer: Tracer
    span: Span
    ctx: TracedRequest


# Set inside a traced request only: None means "not traced", the one test every hook makes.
_ACTIVE: contextvars.ContextVar[_RequestTrace | None] = contextvars.ContextVar(
    "request_trace", default=None)


class Tracing:
    """The app's tracing (``TRACING``): a tracer, or none (off, the default)."""

    def __init__(self) -> None:
        self.tracer: Tracer | None = None
        self._owned: TracerProvider | None = None

    def install(self, provider: TracerProvider) -> None:
        """Traces through ``provider`` (tests give one with an in-memory exporter); the
        caller keeps it and shuts it down."""
        from proxy import __version__

        self.tracer = provider.get_tracer("safety_proxy", __version__)

    def start_from_env(self) -> None:
        """Switches tracing on as the ``OTEL_*`` variables say (module doc); a no-op when
        a provider was installed already. Never raises for a bad setting: it logs it and
        leaves tracing off."""
        exporters = exporter_names(os.environ)
        if self.tracer is not None or not exporters:
            return
        try:
            provider = provider_from_env(exporters)
        except ImportError:
            log.warning("tracing_unavailable", detail="OTEL_* variables ask for tracing but "
                        "the otel extra is not installed: pip install 'safety-proxy[otel]'")
            return
        except UnknownExporter as exc:
            log.warning("tracing_unavailable", detail=str(exc))
            return
        except Exception as exc:  # a bad OTEL_* value: its type only (a value may be a key)
            log.warning("tracing_unavailable", exc_type=type(exc).__name__)
            return
        self.install(provider)
        self._owned = provider
        log.info("tracing_enabled", exporters=exporters)

    def shutdown(self) -> None:
        """Flushes and stops the provider ``start_from_env`` made (blocking: run it off the
        event loop); a provider given to ``install`` stays its owner's."""
        if self._owned is not None:
            self._owned.shutdown()
            self._owned = None
        self.tracer = None


TRACING = web.AppKey("tracing", Tracing)


class UnknownExporter(ValueError):
    """``OTEL_TRACES_EXPORTER`` names an exporter other than otlp, console or none."""


def exporter_names(env: Mapping[str, str]) -> list[str]:
    """The exporters the environment asks for; empty: tracing off (module doc)."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    named = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if not named:
        endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get(
            "OTEL_EXPORTER_OTLP_ENDPOINT")
        return ["otlp"] if endpoint else []
    names = [name.strip() for name in named.split(",") if name.strip()]
    return [] if "none" in names else names


def provider_from_env(exporters: Sequence[str]) -> TracerProvider:
    """An SDK provider exporting to ``exporters`` in batches; its resource, sampler and
    exporters' settings read from the ``OTEL_*`` variables by the SDK itself."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from proxy import __version__

    resource = Resource.create({"service.version": __version__})
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": DEFAULT_SERVICE_NAME}))
    provider = TracerProvider(resource=resource)  # sampler: OTEL_TRACES_SAMPLER
    for name in exporters:
        provider.add_span_processor(BatchSpanProcessor(_exporter(name)))
    return provider


def _exporter(name: str) -> Any:
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if name == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()  # endpoint, headers, timeout: OTEL_EXPORTER_OTLP_*
    raise UnknownExporter(f"unknown OTEL_TRACES_EXPORTER {name!r}: otlp, console or none")


# -- the request's SERVER span ------------------------------------------------------------

class RequestSpan:
    """What ``serve`` tells the server span before it ends: the status answered."""

    def __init__(self, trace: _RequestTrace | None = None) -> None:
        self._trace = trace

    def finish(self, status: int) -> None:
        """Sets the outcome's attributes (status, decision, model...) from the request."""
        if self._trace is not None:
            _finish(self._trace.span, self._trace.ctx, status)


_UNTRACED = contextlib.nullcontext(RequestSpan())  # reusable: nothing to enter or exit


def request_span(request: web.Request,
                 ctx: TracedRequest) -> contextlib.AbstractContextManager[RequestSpan]:
    """The request's SERVER span, current (and ``_ACTIVE``) inside: it continues the trace
    context the client sent. Untraced: a context yielding a RequestSpan that does nothing."""
    tracing = request.app.get(TRACING)
    if tracing is None or tracing.tracer is None:
        return _UNTRACED
    return _server_span(tracing.tracer, request, ctx)


@contextlib.contextmanager
def _server_span(tracer: Tracer, request: web.Request,
                 ctx: TracedRequest) -> Iterator[RequestSpan]:
    from opentelemetry import propagate
    from opentelemetry.trace import SpanKind

    route = route_template(request.raw_path, ctx.route)
    method = request.method if request.method in _METHODS else "_OTHER"
    with tracer.start_as_current_span(
            f"{request.method if method != '_OTHER' else 'HTTP'} {route}",
            context=propagate.extract(request.headers), kind=SpanKind.SERVER,
            attributes=_server_attributes(request, method, route, ctx),
            record_exception=False, set_status_on_exception=False) as span:
        trace = _RequestTrace(tracer, span, ctx)
        token = _ACTIVE.set(trace)
        try:
            yield RequestSpan(trace)
        except Exception as exc:  # a bug (a client gone is a 499, set by ``finish``)
            span.set_attribute("error.type", _type_name(exc))
            raise
        finally:
            _ACTIVE.reset(token)


def route_template(raw_path: str, route: str) -> str:
    """The path as a template (``http.route``): an Azure deployment's name becomes
    ``{deployment}``, a forwarded path ``{path}``; never the query string."""
    segments = raw_path.split("?", 1)[0].strip("/").split("/")
    if route == "passthrough":
        return f"/{segments[0]}/{{path}}"
    if len(segments) > 3 and segments[1] == "deployments":
        segments[2] = "{deployment}"
    return "/" + "/".join(segments)


def _server_attributes(request: web.Request, method: str, route: str,
                       ctx: TracedRequest) -> dict[str, Any]:
    attributes: dict[str, Any] = {"http.request.method": method, "http.route": route,
                                  "url.scheme": request.scheme, "safety_proxy.route": ctx.route}
    if ctx.route != "passthrough":  # a fixed API path; a forwarded one may carry ids
        attributes["url.path"] = route
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    if isinstance(sockname, tuple) and len(sockname) >= 2:  # the listening socket, not Host
        attributes["server.address"], attributes["server.port"] = sockname[0], sockname[1]
    return attributes


def _finish(span: Span, ctx: TracedRequest, status: int) -> None:
    from opentelemetry.trace import StatusCode

    span.set_attributes(_outcome_attributes(ctx, status))
    if status >= 500:
        span.set_attribute("error.type", ctx.error_kind or str(status))
        span.set_status(StatusCode.ERROR)


def _outcome_attributes(ctx: TracedRequest, status: int) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "http.response.status_code": status,
        "safety_proxy.decision": ctx.outcome_label,
        "safety_proxy.checks": ctx.checks_run,
        "safety_proxy.blocked_directions": ctx.blocked_directions,
        "safety_proxy.stream_cut": ctx.stream_cut,
    }
    if ctx.error_kind:
        attributes["safety_proxy.error"] = ctx.error_kind
    if ctx.route == "passthrough" or ctx.route == "moderations":
        return attributes
    attributes.update(_genai_request(ctx))
    return attributes


def _genai_request(ctx: TracedRequest) -> dict[str, Any]:
    """GenAI semantic-convention attributes of the request (its model, not its texts)."""
    attributes: dict[str, Any] = {
        "gen_ai.provider.name": "anthropic" if ctx.dialect.name == "messages" else "openai"}
    operation = _OPERATIONS.get(ctx.dialect.name)
    if operation is not None:
        attributes["gen_ai.operation.name"] = operation
    if ctx.parsed is not None:
        if isinstance(ctx.parsed.model, str):
            attributes["gen_ai.request.model"] = ctx.parsed.model
        attributes["gen_ai.request.stream"] = ctx.parsed.stream
    return attributes


def note_answer(body: dict[str, Any]) -> None:
    """Records a non-streamed answer's model, finish reasons and token usage on the
    server span (never its texts). Untraced: nothing."""
    trace = _ACTIVE.get()
    if trace is not None:
        trace.span.set_attributes(answer_attributes(body))


def answer_attributes(body: dict[str, Any]) -> dict[str, Any]:
    """``gen_ai.response.*`` and ``gen_ai.usage.*`` from an OpenAI (Chat Completions,
    Completions, Responses) or Anthropic (Messages) answer; absent fields are left out."""
    attributes: dict[str, Any] = {}
    if isinstance(body.get("model"), str):
        attributes["gen_ai.response.model"] = body["model"]
    choices = body.get("choices")
    reasons = ([c.get("finish_reason") for c in choices if isinstance(c, dict)]
               if isinstance(choices, list) else [body.get("stop_reason")])
    if any(isinstance(r, str) for r in reasons):
        attributes["gen_ai.response.finish_reasons"] = [r for r in reasons if isinstance(r, str)]
    given = body.get("usage")
    usage: dict[str, Any] = given if isinstance(given, dict) else {}
    for field, names in (("input_tokens", ("input_tokens", "prompt_tokens")),
                         ("output_tokens", ("output_tokens", "completion_tokens"))):
        count = next((usage[n] for n in names if isinstance(usage.get(n), int)), None)
        if count is not None:
            attributes[f"gen_ai.usage.{field}"] = count
    return attributes


# -- INTERNAL spans per check -------------------------------------------------------------

def traced_check(name: str, check_type: str, direction: str, texts: int,
                 run: Coroutine[Any, Any, T]) -> Coroutine[Any, Any, T]:
    """``run`` (one check's run: its scores or its CheckFailure) inside a ``check <name>``
    span. Untraced: ``run`` itself."""
    trace = _ACTIVE.get()
    if trace is None:
        return run
    return _check_span(trace, name, check_type, direction, texts, run)


def traced_check_now(name: str, check_type: str, direction: str, texts: int,
                     run: Callable[..., T], *args: Any) -> T:
    """``traced_check`` for a check run as a plain call (an in-process classifier's):
    ``run(*args)`` inside the same span. Untraced: ``run(*args)``."""
    trace = _ACTIVE.get()
    if trace is None:
        return run(*args)
    with _check_span_opened(trace, name, check_type, direction, texts) as span:
        return _check_span_ended(span, run(*args))


async def _check_span(trace: _RequestTrace, name: str, check_type: str, direction: str,
                      texts: int, run: Awaitable[T]) -> T:
    with _check_span_opened(trace, name, check_type, direction, texts) as span:
        return _check_span_ended(span, await run)


def _check_span_opened(trace: _RequestTrace, name: str, check_type: str, direction: str,
                       texts: int) -> contextlib.AbstractContextManager[Span]:
    from opentelemetry.trace import SpanKind

    return trace.tracer.start_as_current_span(
        f"check {name}", kind=SpanKind.INTERNAL, record_exception=False,
        set_status_on_exception=False, attributes={
            "safety_proxy.check.name": name, "safety_proxy.check.type": check_type,
            "safety_proxy.direction": direction, "safety_proxy.check.texts": texts,
        })


def _check_span_ended(span: Span, outcome: T) -> T:
    """``outcome`` (scores or a CheckFailure) noted on the check's span."""
    from opentelemetry.trace import StatusCode

    kind = outcome.kind if isinstance(outcome, CheckFailure) else "ok"
    span.set_attribute("safety_proxy.check.outcome", kind)
    if kind != "ok":
        span.set_attribute("error.type", kind)
        span.set_status(StatusCode.ERROR)
    return outcome


def note_cache_hits(hits: int) -> None:
    """How many of a check's texts the verdict cache answered, on the running check's
    span. Untraced: nothing."""
    if _ACTIVE.get() is not None:
        from opentelemetry import trace

        trace.get_current_span().set_attribute("safety_proxy.check.cache_hits", hits)


# -- the CLIENT span of the upstream call -------------------------------------------------

async def traced_upstream(method: str, url: yarl.URL, headers: CIMultiDict[str],
                          send: Callable[[CIMultiDict[str]], Awaitable[T]]) -> T:
    """``send(headers)`` (the upstream request, to its response's headers) inside a CLIENT
    span whose context replaces any ``traceparent``/``tracestate`` in ``headers``.
    Untraced: ``send(headers)``, the client's trace headers forwarded as they came."""
    trace = _ACTIVE.get()
    if trace is None:
        return await send(headers)
    from opentelemetry import propagate
    from opentelemetry.trace import SpanKind, StatusCode

    with trace.tracer.start_as_current_span(
            _client_name(method, trace.ctx), kind=SpanKind.CLIENT, record_exception=False,
            set_status_on_exception=False,
            attributes=_client_attributes(method, url, trace.ctx)) as span:
        for name in _OWN_PROPAGATION:
            headers.popall(name, None)
        propagate.inject(headers)
        try:
            answer = await send(headers)
        except BaseException as exc:
            span.set_attribute("error.type", _type_name(exc))
            span.set_status(StatusCode.ERROR)
            raise
        status = getattr(answer, "status", None)
        if isinstance(status, int):
            span.set_attribute("http.response.status_code", status)
            if status >= 400:
                span.set_attribute("error.type", str(status))
                span.set_status(StatusCode.ERROR)
        return answer


def _client_name(method: str, ctx: TracedRequest) -> str:
    """GenAI's ``{operation} {model}`` for a generation, HTTP's ``{method}`` otherwise."""
    genai = _genai_request(ctx) if ctx.route not in ("passthrough", "moderations") else {}
    operation = genai.get("gen_ai.operation.name")
    if operation is None:
        return method
    model = genai.get("gen_ai.request.model")
    return f"{operation} {model}" if model else operation


def _client_attributes(method: str, url: yarl.URL, ctx: TracedRequest) -> dict[str, Any]:
    """The upstream's host and port, and for a generation its URL (no query string, no
    userinfo; a forwarded path may carry ids, so it has none)."""
    attributes: dict[str, Any] = {
        "http.request.method": method if method in _METHODS else "_OTHER",
        "server.address": url.host or "", "server.port": url.port or 0,
    }
    if ctx.route not in ("passthrough", "moderations"):
        attributes["url.full"] = str(url.with_query(None).with_user(None).with_password(None))
        attributes.update(_genai_request(ctx))
    return attributes


# -- log lines ----------------------------------------------------------------------------

def log_ids() -> tuple[str, str] | None:
    """The current span's trace and span ids (hex) inside a traced request, else None."""
    if _ACTIVE.get() is None:
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def _type_name(exc: BaseException) -> str:
    kind = type(exc)
    return kind.__qualname__ if kind.__module__ == "builtins" else (
        f"{kind.__module__}.{kind.__qualname__}")
