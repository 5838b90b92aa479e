"""OpenTelemetry tracing (proxy/observability/tracing.py): a real proxy on loopback in front
of a fake OpenAI upstream, its spans read from the SDK's in-memory exporter; and the real
``serve`` command exporting over OTLP/HTTP to a fake collector."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import yaml
from aiohttp import web
from multidict import CIMultiDict

pytest.importorskip("opentelemetry.sdk.trace", reason="the otel extra is not installed")

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind, StatusCode

from proxy.app import create_app
from proxy.config.loader import parse
from proxy.observability.tracing import (
    TRACING,
    Tracing,
    answer_attributes,
    exporter_names,
    log_ids,
    provider_from_env,
    route_template,
)
from tests.conftest import ServeApp, proxy_config
from tests.proxy.serve_process import json_config, start_serve
from tests.proxy.state.helpers import eventually
from tests.support.upstream import FakeUpstream, Raw, Stream, completion, sse_chunks

CHAT = "/v1/chat/completions"
CANARY = "canary-7f3e9b41"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


@dataclass
class Traced:
    url: str
    exporter: InMemorySpanExporter
    upstream: FakeUpstream

    async def post(self, body: dict[str, Any], headers: dict[str, str] | None = None,
                   path: str = CHAT) -> tuple[int, bytes]:
        """Posts, reads the whole answer, and waits for the request's server span."""
        before = len(self.server_spans())
        async with aiohttp.ClientSession() as session, session.post(
                f"{self.url}{path}", json=body, headers=headers or {}) as response:
            answer = await response.read()
        await eventually(lambda: len(self.server_spans()) > before, 30, "no server span ended")
        return response.status, answer

    def server_spans(self) -> list[ReadableSpan]:
        return of_kind(self.exporter.get_finished_spans(), SpanKind.SERVER)


def of_kind(spans: Sequence[ReadableSpan], kind: SpanKind) -> list[ReadableSpan]:
    return [span for span in spans if span.kind == kind]


def one(spans: Sequence[ReadableSpan], kind: SpanKind) -> ReadableSpan:
    found = of_kind(spans, kind)
    assert len(found) == 1, [span.name for span in spans]
    return found[0]


def checks(spans: Sequence[ReadableSpan]) -> list[ReadableSpan]:
    return [span for span in spans if span.name.startswith("check ")]


def parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def chat(content: str, **fields: Any) -> dict[str, Any]:
    return {"model": "gpt-test", "messages": [{"role": "user", "content": content}], **fields}


StartTraced = Callable[..., Awaitable[Traced]]


@pytest.fixture
async def traced(serve_app: ServeApp, fake_upstream: FakeUpstream) -> AsyncIterator[StartTraced]:
    """traced(**config sections) -> a proxy tracing into an in-memory exporter."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    async def start(**sections: Any) -> Traced:
        upstream_url = await serve_app(fake_upstream.app())
        config = proxy_config(upstream_url, **sections)
        app = create_app(parse(yaml.safe_dump(config).encode(), "test.yaml"))
        app[TRACING].install(provider)
        return Traced(await serve_app(app), exporter, fake_upstream)

    yield start
    provider.shutdown()


async def test_a_request_is_a_server_span_over_its_check_spans_and_one_client_span(
        traced: StartTraced) -> None:
    proxy = await traced()
    status, _ = await proxy.post(chat("hello"))
    assert status == 200
    spans = proxy.exporter.get_finished_spans()
    server, client = one(spans, SpanKind.SERVER), one(spans, SpanKind.CLIENT)
    assert server.parent is None and server.name == f"POST {CHAT}"
    assert [(c.attributes or {})["safety_proxy.direction"] for c in checks(spans)] == [
        "input", "output"]
    for child in [*checks(spans), client]:
        assert parent_id(child) == server.context.span_id
        assert child.context.trace_id == server.context.trace_id
    assert len(spans) == 4  # nothing else


async def test_the_server_span_has_http_genai_and_decision_attributes(
        traced: StartTraced) -> None:
    proxy = await traced()
    await proxy.post(chat("hello"))
    server = one(proxy.exporter.get_finished_spans(), SpanKind.SERVER)
    attributes = dict(server.attributes or {})
    assert attributes["server.address"] == "127.0.0.1"
    assert isinstance(attributes["server.port"], int) and attributes["server.port"] > 0
    assert {key: attributes[key] for key in (
        "http.request.method", "http.route", "url.path", "http.response.status_code",
        "gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model",
        "gen_ai.request.stream", "gen_ai.response.model", "gen_ai.response.finish_reasons",
        "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "safety_proxy.decision",
        "safety_proxy.checks", "safety_proxy.blocked_directions")} == {
        "http.request.method": "POST", "http.route": CHAT, "url.path": CHAT,
        "http.response.status_code": 200, "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-test",
        "gen_ai.request.stream": False, "gen_ai.response.model": "fake-model",
        "gen_ai.response.finish_reasons": ("stop",), "gen_ai.usage.input_tokens": 1,
        "gen_ai.usage.output_tokens": 1, "safety_proxy.decision": "allow",
        "safety_proxy.checks": ("script",), "safety_proxy.blocked_directions": ()}
    assert server.status.status_code == StatusCode.UNSET


async def test_a_check_span_says_what_ran_and_how_it_ended(traced: StartTraced) -> None:
    proxy = await traced()
    await proxy.post(chat("hello"))
    first = checks(proxy.exporter.get_finished_spans())[0]
    assert first.name == "check script" and first.kind == SpanKind.INTERNAL
    assert dict(first.attributes or {}) == {
        "safety_proxy.check.name": "script", "safety_proxy.check.type": "scripted",
        "safety_proxy.direction": "input", "safety_proxy.check.texts": 1,
        "safety_proxy.check.cache_hits": 0, "safety_proxy.check.outcome": "ok"}


async def test_a_repeated_prompt_is_a_cache_hit_on_its_check_span(
        traced: StartTraced) -> None:
    proxy = await traced()
    await proxy.post(chat("the same prompt"))
    await proxy.post(chat("the same prompt"))
    inputs = [span for span in checks(proxy.exporter.get_finished_spans())
              if span.attributes and span.attributes["safety_proxy.direction"] == "input"]
    assert [span.attributes["safety_proxy.check.cache_hits"]  # type: ignore[index]
            for span in inputs] == [0, 1]


async def test_an_in_process_check_has_its_span_too(traced: StartTraced) -> None:
    """A check scored as a plain call in the request's step (checks.py) is traced as an
    awaited one: its span, outcome and cache hits."""
    refusal = {"name": "refusal", "type": "refusal", "directions": ["output"], "timeout_s": 1.0}
    proxy = await traced(checks=[refusal], policy={
        "input": {}, "output": {"refusal": {"refusal": {"flag": 0.5}}},
        "toxic_labels": [], "refusal_label": "refusal.refusal"})
    for _ in range(3):  # the same answer: kept from its second miss, then a cache hit
        await proxy.post(chat("hello"))
    spans = checks(proxy.exporter.get_finished_spans())
    server = proxy.server_spans()
    assert [span.name for span in spans] == ["check refusal"] * 3
    assert [parent_id(span) for span in spans] == [s.context.span_id for s in server]
    assert [dict(span.attributes or {}) for span in spans] == [{
        "safety_proxy.check.name": "refusal", "safety_proxy.check.type": "refusal",
        "safety_proxy.direction": "output", "safety_proxy.check.texts": 1,
        "safety_proxy.check.cache_hits": hits, "safety_proxy.check.outcome": "ok"}
        for hits in (0, 0, 1)]


async def test_a_failing_check_is_an_error_span_with_its_kind(traced: StartTraced) -> None:
    failing = {"name": "script", "type": "scripted", "timeout_s": 1.0,
               "options": {"labels": ["bad", "meh"], "fail": "raise"}}
    proxy = await traced(checks=[failing])
    status, _ = await proxy.post(chat("hello"))
    assert status == 200  # the scripted check fails open
    failed = checks(proxy.exporter.get_finished_spans())[0]
    assert failed.attributes is not None
    assert failed.attributes["safety_proxy.check.outcome"] == "error"
    assert failed.status.status_code == StatusCode.ERROR


async def test_the_upstream_receives_the_client_spans_trace_context(
        traced: StartTraced) -> None:
    proxy = await traced()
    await proxy.post(chat("hello"))
    client = one(proxy.exporter.get_finished_spans(), SpanKind.CLIENT)
    version, trace_id, span_id, flags = CIMultiDict(proxy.upstream.headers[0])[
        "traceparent"].split("-")
    assert (version, trace_id, span_id) == (
        "00", f"{client.context.trace_id:032x}", f"{client.context.span_id:016x}")
    assert int(flags, 16) & 1  # sampled
    assert client.name == "chat gpt-test"
    assert dict(client.attributes or {}) | {"server.port": 0} == {
        "http.request.method": "POST", "server.address": "127.0.0.1", "server.port": 0,
        "url.full": f"http://127.0.0.1:{client.attributes['server.port']}"  # type: ignore[index]
                    f"{CHAT}",
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-test", "gen_ai.request.stream": False,
        "http.response.status_code": 200}


async def test_an_incoming_traceparent_is_continued_and_replaced_upstream(
        traced: StartTraced) -> None:
    proxy = await traced()
    await proxy.post(chat("hello"), {"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01",
                                     "tracestate": "vendor=opaque"})
    spans = proxy.exporter.get_finished_spans()
    server, client = one(spans, SpanKind.SERVER), one(spans, SpanKind.CLIENT)
    assert f"{server.context.trace_id:032x}" == TRACE_ID
    assert parent_id(server) == int(PARENT_ID, 16) and server.parent.is_remote  # type: ignore[union-attr]
    sent = CIMultiDict(proxy.upstream.headers[0])
    assert [value[:-3] for value in sent.getall("traceparent")] == [
        f"00-{TRACE_ID}-{client.context.span_id:016x}"]
    assert sent.getall("tracestate") == ["vendor=opaque"]  # carried by the propagator


async def test_an_upstream_5xx_is_an_error_on_the_server_and_client_spans(
        traced: StartTraced) -> None:
    proxy = await traced()
    proxy.upstream.answer = lambda body: Raw(503, b'{"error": {"message": "overloaded"}}')
    status, _ = await proxy.post(chat("hello"))
    assert status == 503
    spans = proxy.exporter.get_finished_spans()
    server, client = one(spans, SpanKind.SERVER), one(spans, SpanKind.CLIENT)
    for span in (server, client):
        assert span.status.status_code == StatusCode.ERROR
        assert span.attributes is not None
        assert span.attributes["http.response.status_code"] == 503


async def test_an_unreachable_upstream_is_an_error_with_its_type_only(
        serve_app: ServeApp, traced: StartTraced) -> None:
    proxy = await traced(upstream={"base_url": "http://127.0.0.1:9/v1"})
    status, _ = await proxy.post(chat("hello"))
    assert status == 502
    spans = proxy.exporter.get_finished_spans()
    client, server = one(spans, SpanKind.CLIENT), one(spans, SpanKind.SERVER)
    assert client.status.status_code == StatusCode.ERROR and not client.status.description
    assert client.attributes is not None
    assert client.attributes["error.type"] == "proxy.pipeline.upstream_http.ConnectFailed"
    assert not client.events
    assert server.attributes is not None
    assert server.attributes["safety_proxy.error"] == "upstream_unreachable"


async def test_a_blocked_input_has_its_decision_and_no_client_span(traced: StartTraced) -> None:
    proxy = await traced()
    status, _ = await proxy.post(chat("say BADWORD"))
    assert status == 400 and not proxy.upstream.requests
    spans = proxy.exporter.get_finished_spans()
    assert not of_kind(spans, SpanKind.CLIENT)
    server = one(spans, SpanKind.SERVER)
    assert server.attributes is not None
    assert server.attributes["safety_proxy.decision"] == "block"
    assert server.attributes["safety_proxy.blocked_directions"] == ("input",)
    assert server.status.status_code == StatusCode.UNSET  # a 4xx is the client's


async def test_a_streamed_answer_ends_its_server_span_when_the_stream_ends(
        traced: StartTraced) -> None:
    proxy = await traced()
    pieces = ["A fairly long answer that fills ", "more than one window of forty ",
              "characters, so windows are checked ", "while it streams."]
    proxy.upstream.answer = lambda body: Stream(sse_chunks(pieces))
    status, answer = await proxy.post(chat("hello", stream=True))
    assert status == 200 and answer.endswith(b"data: [DONE]\n\n")
    spans = proxy.exporter.get_finished_spans()
    server, client = one(spans, SpanKind.SERVER), one(spans, SpanKind.CLIENT)
    outputs = [s for s in checks(spans) if s.attributes and
               s.attributes["safety_proxy.direction"] == "output"]
    assert len(outputs) >= 2  # the windows while it streamed, then the whole answer
    assert all(parent_id(s) == server.context.span_id for s in [*outputs, client])
    assert server.end_time is not None
    assert server.end_time >= max(s.end_time or 0 for s in outputs)
    assert server.attributes is not None and server.attributes["gen_ai.request.stream"] is True


async def test_a_cut_stream_is_recorded_on_the_server_span(traced: StartTraced) -> None:
    proxy = await traced()
    proxy.upstream.answer = lambda body: Stream(sse_chunks(["fine text, then BADWORD."]))
    await proxy.post(chat("hello", stream=True))
    server = one(proxy.exporter.get_finished_spans(), SpanKind.SERVER)
    assert server.attributes is not None
    assert server.attributes["safety_proxy.blocked_directions"] == ("output",)
    assert server.attributes["safety_proxy.stream_cut"] is True


async def test_a_canary_secret_reaches_no_span(traced: StartTraced) -> None:
    proxy = await traced()
    secret = {"Authorization": f"Bearer sk-{CANARY}", "x-canary": CANARY,
              "Cookie": f"session={CANARY}", "x-request-id": f"id-{CANARY}"}
    proxy.upstream.answer = lambda body: completion(f"the answer repeats {CANARY}")
    statuses = [(await proxy.post(chat(f"my password is {CANARY}", user=f"user-{CANARY}"),
                                  secret, path=f"{CHAT}?key={CANARY}"))[0]]
    proxy.upstream.answer = lambda body: Stream(sse_chunks([f"streamed {CANARY} text"]))
    statuses.append((await proxy.post(chat(f"again {CANARY}", stream=True), secret))[0])
    proxy.upstream.answer = lambda body: Raw(500, orjson.dumps(
        {"error": {"message": f"bad {CANARY}"}}))
    statuses.append((await proxy.post(chat(CANARY), secret))[0])
    assert statuses == [200, 200, 500] and len(proxy.upstream.requests) == 3
    spans = proxy.exporter.get_finished_spans()
    assert CANARY in json.dumps(proxy.upstream.requests)  # it did go through the proxy
    for span in spans:
        assert CANARY not in span.to_json(), span.name


async def test_off_by_default_the_client_traceparent_is_forwarded_untouched(
        serve_app: ServeApp, fake_upstream: FakeUpstream,
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT",
                 "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_SDK_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    # Off, no hook may reach OpenTelemetry at all: any import of it now fails.
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    upstream_url = await serve_app(fake_upstream.app())
    app = create_app(parse(yaml.safe_dump(proxy_config(upstream_url)).encode(), "t.yaml"))
    url = await serve_app(app)
    traceparent = f"00-{TRACE_ID}-{PARENT_ID}-01"
    async with aiohttp.ClientSession() as session:
        for body in (chat("hello"), chat("hello", stream=True), chat("BADWORD")):
            async with session.post(f"{url}{CHAT}", json=body,
                                    headers={"traceparent": traceparent}) as response:
                assert response.status in (200, 400)
                await response.read()
    assert app[TRACING].tracer is None and log_ids() is None
    assert [CIMultiDict(h)["traceparent"] for h in fake_upstream.headers] == [traceparent] * 2


@pytest.mark.parametrize(("env", "exporters"), [
    ({}, []),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, ["otlp"]),
    ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, ["otlp"]),
    ({"OTEL_TRACES_EXPORTER": "console"}, ["console"]),
    ({"OTEL_TRACES_EXPORTER": "otlp, console"}, ["otlp", "console"]),
    ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c"}, []),
    ({"OTEL_SDK_DISABLED": "TRUE", "OTEL_TRACES_EXPORTER": "otlp"}, []),
    ({"OTEL_SDK_DISABLED": "false", "OTEL_TRACES_EXPORTER": "otlp"}, ["otlp"]),
])
def test_the_otel_variables_say_whether_and_where_to_export(
        env: dict[str, str], exporters: list[str]) -> None:
    assert exporter_names(env) == exporters


def test_the_service_name_defaults_to_safety_proxy_and_follows_otel_service_name(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    provider = provider_from_env(["console"])
    assert provider.resource.attributes["service.name"] == "safety-proxy"
    provider.shutdown()
    monkeypatch.setenv("OTEL_SERVICE_NAME", "edge-proxy")
    provider = provider_from_env(["console"])
    assert provider.resource.attributes["service.name"] == "edge-proxy"
    provider.shutdown()


def test_an_unknown_exporter_or_a_missing_extra_leaves_tracing_off(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin")
    tracing = Tracing()
    tracing.start_from_env()
    assert tracing.tracer is None
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.resources", None)
    tracing.start_from_env()
    assert tracing.tracer is None


@pytest.mark.parametrize(("raw_path", "route", "template"), [
    ("/v1/chat/completions?x=1", "chat_completions", "/v1/chat/completions"),
    ("/openai/deployments/gpt4o-prod/chat/completions?api-version=2024",
     "chat_completions", "/openai/deployments/{deployment}/chat/completions"),
    ("/v1/files/file-abc123/content", "passthrough", "/v1/{path}"),
    ("/v1/moderations", "moderations", "/v1/moderations"),
])
def test_the_route_template_never_holds_ids_or_queries(raw_path: str, route: str,
                                                       template: str) -> None:
    assert route_template(raw_path, route) == template


def test_answer_attributes_read_openai_and_anthropic_usage() -> None:
    assert answer_attributes({"model": "claude", "stop_reason": "end_turn", "usage": {
        "input_tokens": 7, "output_tokens": 3}}) == {
        "gen_ai.response.model": "claude", "gen_ai.response.finish_reasons": ["end_turn"],
        "gen_ai.usage.input_tokens": 7, "gen_ai.usage.output_tokens": 3}
    assert answer_attributes({"choices": "odd", "usage": None}) == {}


@dataclass
class Collector:
    """A fake OTLP/HTTP collector: the spans of every export it received."""

    spans: list[Any]
    services: list[str]

    def app(self) -> web.Application:
        async def traces(request: web.Request) -> web.Response:
            export = ExportTraceServiceRequest.FromString(await request.read())
            for resource_spans in export.resource_spans:
                self.services += [a.value.string_value for a in
                                  resource_spans.resource.attributes if a.key == "service.name"]
                for scope_spans in resource_spans.scope_spans:
                    self.spans += scope_spans.spans
            return web.Response(body=b"", content_type="application/x-protobuf")
        app = web.Application()
        app.router.add_post("/v1/traces", traces)
        return app


@pytest.mark.slow
async def test_serve_exports_over_otlp_and_logs_the_trace_ids(
        tmp_path: Path, serve_app: ServeApp, fake_upstream: FakeUpstream) -> None:
    collector = Collector([], [])
    collector_url = await serve_app(collector.app())
    upstream_url = await serve_app(fake_upstream.app())
    served = await start_serve(tmp_path, json_config(upstream_url, server={"drain_s": 0}),
                               env={"OTEL_EXPORTER_OTLP_ENDPOINT": collector_url,
                                    "OTEL_EXPORTER_OTLP_COMPRESSION": "none"})
    try:
        async with aiohttp.ClientSession() as session, session.post(
                f"{served.base}{CHAT}", json=chat("hello")) as response:
            assert response.status == 200
        served.signal(signal.SIGTERM)
        assert await served.exit_code() == 0  # the shutdown flushed the spans
    finally:
        await served.stop()
    assert collector.services == ["safety-proxy"]
    server = next(span for span in collector.spans if span.name == f"POST {CHAT}")
    assert {span.name for span in collector.spans} == {
        f"POST {CHAT}", "check script", "chat gpt-test"}
    line = served.events("request")[0]
    assert (line["trace_id"], line["span_id"]) == (server.trace_id.hex(), server.span_id.hex())
    assert "tracing_enabled" in [line["event"] for line in served.log_lines()]
