"""Table tests of the Anthropic Messages dialect: requests, answers, blocks, streams.

Samples follow the API reference; the official ``anthropic`` SDK validates them (its
request TypedDicts, its ``Message`` and stream event models) and reads what the dialect
writes, through an in-memory transport: the wire format is the real one.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from pydantic import TypeAdapter

from proxy.protocol.dialect import (
    FILE_KIND,
    IMAGE_KIND,
    KEY,
    AnswerText,
    Dialect,
    EventView,
    ParsedRequest,
)
from proxy.protocol.errors import (
    BadRequest,
    Banned,
    BodyTooLarge,
    ProxyError,
    Throttled,
    Unavailable,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from proxy.protocol.messages import (
    ANSWER_KINDS,
    DIALECT,
    REQUEST_KINDS,
    STREAM_EVENTS,
)
from proxy.protocol.messages_stream import MessagesStream
from proxy.protocol.sse import SSEDecoder, SSEEvent, encode

anthropic = pytest.importorskip("anthropic")
httpx2 = pytest.importorskip("httpx2")
types = anthropic.types

SAFETY = {"direction": "output", "decision": "block",
          "reasons": [{"classifier": "scripted", "label": "toxic", "score": 0.99}]}
MODEL = "claude-test-model"  # not a real model: no SDK deprecation warning
M = "messages"
Text = tuple[str, str, tuple[Any, ...], str]


def body(*messages: Any, **fields: Any) -> dict[str, Any]:
    return {"model": MODEL, "max_tokens": 1024, "messages": list(messages), **fields}


def user(*content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content[0] if isinstance(content[0], str)
            else list(content)}


def assistant(*content: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": content[0] if isinstance(content[0], str)
            else list(content)}


def text(value: str, **extra: Any) -> dict[str, Any]:
    return {"type": "text", "text": value, **extra}


def plain_document(data: str, **extra: Any) -> dict[str, Any]:
    return {"type": "document", **extra,
            "source": {"type": "text", "media_type": "text/plain", "data": data}}


def server_result(kind: str, content: Any) -> dict[str, Any]:
    return {"type": kind, "tool_use_id": "srvtoolu_01", "content": content}


def at(*path: Any) -> tuple[Any, ...]:
    return (M, *path)


IMAGE = {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                     "data": "iVBORw0KGgo="}}
PDF = {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0xLjQ="}
WEATHER_TOOL = {"name": "get_weather", "description": "Weather for a city",
                "input_schema": {"type": "object", "required": ["city"], "properties": {
                    "city": {"type": "string", "description": "City name"}}}}
SEARCH_TOOL = {"type": "web_search_20250305", "name": "web_search", "max_uses": 3,
               "user_location": {"type": "approximate", "city": "Paris"}}
TOOL_RESULT = at(0, "content", 0, "content")
BLOCK = at(0, "content", 0)

# id, request body, texts as (role, kind, path, text), unreadable
REQUEST_SAMPLES: list[tuple[str, dict[str, Any], list[Text], int]] = [
    ("string content", body(user("Hello there")),
     [("user", "text", at(0, "content"), "Hello there")], 0),
    ("text blocks of both roles", body(user(text("Q1")), assistant(text("A1"))),
     [("user", "text", at(0, "content", 0, "text"), "Q1"),
      ("assistant", "text", at(1, "content", 0, "text"), "A1")], 0),
    ("citations", body(assistant(text("The sky is blue.", citations=[{
        "type": "char_location", "cited_text": "sky is blue", "document_index": 0,
        "document_title": "Facts", "start_char_index": 4, "end_char_index": 15}]))),
     [("assistant", "text", (*BLOCK, "text"), "The sky is blue."),
      ("assistant", "citation", (*BLOCK, "citations", 0, "cited_text"), "sky is blue"),
      ("assistant", "citation", (*BLOCK, "citations", 0, "document_title"), "Facts")], 0),
    ("system string", body(user("hi"), system="You are terse."),
     [("user", "text", at(0, "content"), "hi"),
      ("system", "system", ("system",), "You are terse.")], 0),
    ("system blocks", body(user("hi"), system=[
        text("Rule one", cache_control={"type": "ephemeral"}), text("Rule two")]),
     [("user", "text", at(0, "content"), "hi"),
      ("system", "system", ("system", 0, "text"), "Rule one"),
      ("system", "system", ("system", 1, "text"), "Rule two")], 0),
    ("system-role messages", body({"role": "system", "content": "Be brief"},
                                  {"role": "system", "content": [text("No jokes")]}),
     [("system", "system", at(0, "content"), "Be brief"),
      ("system", "system", at(1, "content", 0, "text"), "No jokes")], 0),
    ("thinking and redacted thinking", body(assistant(
        {"type": "thinking", "thinking": "Let me think", "signature": "EqQBCgIYAh"},
        {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"})),
     [("assistant", "thinking", (*BLOCK, "thinking"), "Let me think")], 1),
    ("images", body(user(IMAGE, {"type": "image", "source": {
        "type": "url", "url": "https://example.com/a.png"}}, text("What is this?"))),
     [("user", "text", at(0, "content", 2, "text"), "What is this?")], 2),
    ("tool use input leaves and keys", body(assistant({
        "type": "tool_use", "id": "toolu_01", "name": "get_weather",
        "input": {"city": "Paris", "units": ["metric"], "opts": {"note": "sunny?", "n": 2}}})),
     [("assistant", "tool_use.name", (*BLOCK, "name"), "get_weather"),
      ("assistant", "tool_use.input", (*BLOCK, "input", "city"), "Paris"),
      ("assistant", "tool_use.input", (*BLOCK, "input", "units", 0), "metric"),
      ("assistant", "tool_use.input", (*BLOCK, "input", "opts", "note"), "sunny?"),
      ("assistant", "tool_use.input", (*BLOCK, "input", KEY), "city\nunits\nopts\nnote\nn")],
     0),
    ("server tool use", body(assistant({
        "type": "server_tool_use", "id": "srvtoolu_01", "name": "web_search",
        "input": {"query": "weather paris"}})),
     [("assistant", "tool_use.name", (*BLOCK, "name"), "web_search"),
      ("assistant", "tool_use.input", (*BLOCK, "input", "query"), "weather paris"),
      ("assistant", "tool_use.input", (*BLOCK, "input", KEY), "query")], 0),
    ("tool result string", body(user({"type": "tool_result", "tool_use_id": "toolu_01",
                                      "content": "15 degrees", "is_error": False})),
     [("tool", "tool_result", TOOL_RESULT, "15 degrees")], 0),
    ("tool result blocks", body(user({"type": "tool_result", "tool_use_id": "toolu_01",
                                      "content": [
        text("Sunny"), IMAGE,
        {"type": "search_result", "source": "https://ex.com/w", "title": "Forecast",
         "content": [text("Rain later")]},
        plain_document("Report body", title="Report"),
        {"type": "tool_reference", "tool_name": "get_forecast"},
        {"type": "browser_state", "tabs": [{"tab_id": "t1", "title": "News", "active": True,
                                            "url": "https://news.example"}]}]})),
     [("tool", "tool_result", (*TOOL_RESULT, 0, "text"), "Sunny"),
      ("tool", "search_result.title", (*TOOL_RESULT, 2, "title"), "Forecast"),
      ("tool", "search_result.source", (*TOOL_RESULT, 2, "source"), "https://ex.com/w"),
      ("tool", "search_result", (*TOOL_RESULT, 2, "content", 0, "text"), "Rain later"),
      ("tool", "document.title", (*TOOL_RESULT, 3, "title"), "Report"),
      ("tool", "document", (*TOOL_RESULT, 3, "source", "data"), "Report body"),
      ("tool", "tool_result", (*TOOL_RESULT, 4, "tool_name"), "get_forecast"),
      ("tool", "tool_result", (*TOOL_RESULT, 5, "tabs", 0, "title"), "News"),
      ("tool", "tool_result", (*TOOL_RESULT, 5, "tabs", 0, "url"), "https://news.example")],
     1),
    ("plain text document", body(user(plain_document(
        "Doc body", title="Doc title", context="Doc context", citations={"enabled": True}))),
     [("user", "document.title", (*BLOCK, "title"), "Doc title"),
      ("user", "document.context", (*BLOCK, "context"), "Doc context"),
      ("user", "document", (*BLOCK, "source", "data"), "Doc body")], 0),
    ("content documents", body(user(
        {"type": "document", "source": {"type": "content", "content": [text("Chunk"), IMAGE]}},
        {"type": "document", "source": {"type": "content", "content": "Whole"}})),
     [("user", "document", at(0, "content", 0, "source", "content", 0, "text"), "Chunk"),
      ("user", "document", at(0, "content", 1, "source", "content"), "Whole")], 1),
    ("pdf documents", body(user(
        {"type": "document", "source": PDF, "title": "Paper"},
        {"type": "document", "source": {"type": "url", "url": "https://ex.com/a.pdf"}},
        {"type": "document", "source": {"type": "file", "file_id": "file_011"}})),
     [("user", "document.title", (*BLOCK, "title"), "Paper")], 3),
    ("search result", body(user({
        "type": "search_result", "source": "https://ex.com/a", "title": "A page",
        "content": [text("Snippet one"), text("Snippet two")],
        "citations": {"enabled": True}})),
     [("user", "search_result.title", (*BLOCK, "title"), "A page"),
      ("user", "search_result.source", (*BLOCK, "source"), "https://ex.com/a"),
      ("user", "search_result", (*BLOCK, "content", 0, "text"), "Snippet one"),
      ("user", "search_result", (*BLOCK, "content", 1, "text"), "Snippet two")], 0),
    ("web search results", body(assistant(
        server_result("web_search_tool_result", [{
            "type": "web_search_result", "url": "https://ex.com", "title": "Example",
            "encrypted_content": "EqgfCioIARgBIiQ3", "page_age": "April 30, 2025"}]),
        server_result("web_search_tool_result", {
            "type": "web_search_tool_result_error", "error_code": "unavailable"}))),
     [("tool", "server_tool_result", (*BLOCK, "content", 0, "url"), "https://ex.com"),
      ("tool", "server_tool_result", (*BLOCK, "content", 0, "title"), "Example"),
      ("tool", "server_tool_result", (*BLOCK, "content", 0, "page_age"), "April 30, 2025")],
     1),
    ("web fetch results", body(assistant(
        server_result("web_fetch_tool_result", {
            "type": "web_fetch_result", "url": "https://ex.com/p",
            "retrieved_at": "2025-08-25T10:30:02Z",
            "content": plain_document("Page text", title="Page")}),
        server_result("web_fetch_tool_result", {
            "type": "web_fetch_result", "url": "https://ex.com/b.pdf",
            "content": {"type": "document", "source": PDF}}))),
     [("tool", "server_tool_result", (*BLOCK, "content", "url"), "https://ex.com/p"),
      ("tool", "document.title", (*BLOCK, "content", "content", "title"), "Page"),
      ("tool", "document", (*BLOCK, "content", "content", "source", "data"), "Page text"),
      ("tool", "server_tool_result", at(0, "content", 1, "content", "url"),
       "https://ex.com/b.pdf")], 1),
    ("code execution results", body(assistant(
        server_result("code_execution_tool_result", {
            "type": "code_execution_result", "stdout": "42\n", "stderr": "warning",
            "return_code": 0, "content": [{"type": "code_execution_output",
                                           "file_id": "file_01"}]}),
        server_result("code_execution_tool_result", {
            "type": "encrypted_code_execution_result", "encrypted_stdout": "Eu8BCioI",
            "stderr": "", "return_code": 0, "content": []}),
        server_result("bash_code_execution_tool_result", {
            "type": "bash_code_execution_result", "stdout": "a.txt", "stderr": "",
            "return_code": 0, "content": []}))),
     [("tool", "server_tool_result", (*BLOCK, "content", "stdout"), "42\n"),
      ("tool", "server_tool_result", (*BLOCK, "content", "stderr"), "warning"),
      ("tool", "server_tool_result", at(0, "content", 2, "content", "stdout"), "a.txt")], 1),
    ("text editor and tool search results", body(assistant(
        server_result("text_editor_code_execution_tool_result", {
            "type": "text_editor_code_execution_view_result", "content": "file body",
            "file_type": "text", "num_lines": 1, "start_line": 1, "total_lines": 1}),
        server_result("text_editor_code_execution_tool_result", {
            "type": "text_editor_code_execution_str_replace_result", "lines": ["new line"],
            "new_lines": 1, "new_start": 3, "old_lines": 1, "old_start": 3}),
        server_result("text_editor_code_execution_tool_result", {
            "type": "text_editor_code_execution_tool_result_error",
            "error_code": "file_not_found", "error_message": "no such file"}),
        server_result("tool_search_tool_result", {
            "type": "tool_search_tool_search_result",
            "tool_references": [{"type": "tool_reference", "tool_name": "get_weather"}]}))),
     [("tool", "server_tool_result", (*BLOCK, "content", "content"), "file body"),
      ("tool", "server_tool_result", at(0, "content", 1, "content", "lines", 0), "new line"),
      ("tool", "server_tool_result", at(0, "content", 2, "content", "error_message"),
       "no such file"),
      ("tool", "server_tool_result",
       at(0, "content", 3, "content", "tool_references", 0, "tool_name"), "get_weather")], 0),
    ("container upload", body(user({"type": "container_upload", "file_id": "file_01"},
                                   text("Analyse it"))),
     [("user", "text", at(0, "content", 1, "text"), "Analyse it")], 1),
    ("tools", body(user("hi"), tools=[WEATHER_TOOL, SEARCH_TOOL]),
     [("user", "text", at(0, "content"), "hi"),
      ("definition", "tool.definition", ("tools", 0, KEY),
       "name\nget_weather\ndescription\nWeather for a city\ninput_schema\ntype\nobject\n"
       "required\ncity\nproperties\ncity\ntype\nstring\ndescription\nCity name"),
      ("definition", "tool.definition", ("tools", 1, KEY),
       "type\nweb_search_20250305\nname\nweb_search\nmax_uses\nuser_location\ntype\n"
       "approximate\ncity\nParis")], 0),
    ("output format schema", body(user("hi"), output_config={
        "effort": "low", "format": {"type": "json_schema", "schema": {
            "type": "object", "properties": {"answer": {"type": "string"}}}}}),
     [("user", "text", at(0, "content"), "hi"),
      ("definition", "output_config.format", ("output_config", "format", KEY),
       "type\njson_schema\nschema\ntype\nobject\nproperties\nanswer\ntype\nstring")], 0),
    ("extensions", body({"role": "user", "content": "hi", "name": "bob"},
                        compaction={"type": "summarize", "instructions": "Keep names"}),
     [("user", "text", at(0, "content"), "hi"),
      ("user", "extension", at(0, "name"), "bob"),
      ("extension", "extension", ("compaction", "type"), "summarize"),
      ("extension", "extension", ("compaction", "instructions"), "Keep names")], 0),
    ("settings are not texts", body(
        user("hi"), metadata={"user_id": "user-123"}, stop_sequences=["STOP"],
        tool_choice={"type": "tool", "name": "get_weather"}, temperature=0.5,
        thinking={"type": "enabled", "budget_tokens": 2048}, service_tier="auto",
        mcp_servers=[{"type": "url", "url": "https://mcp.example", "name": "m",
                      "authorization_token": "SECRET-TOKEN"}], system=None),
     [("user", "text", at(0, "content"), "hi")], 0),
]
SAMPLE_IDS = [sample[0] for sample in REQUEST_SAMPLES]


def parse(fields: dict[str, Any], forward_unknown: bool = False) -> ParsedRequest:
    return DIALECT.parse_request(orjson.dumps(fields), forward_unknown=forward_unknown)


@pytest.mark.parametrize(("fields", "texts", "unreadable"),
                         [sample[1:] for sample in REQUEST_SAMPLES], ids=SAMPLE_IDS)
def test_request_texts(fields: dict[str, Any], texts: list[Text], unreadable: int) -> None:
    parsed = parse(fields)
    assert [(t.role, t.kind, t.path, t.text) for t in parsed.texts] == texts
    assert (parsed.unreadable, parsed.unknown) == (unreadable, 0)
    assert (parsed.model, parsed.stream) == (MODEL, False)


def lookup(value: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        value = value[key]
    return value


@pytest.mark.parametrize("fields", [sample[1] for sample in REQUEST_SAMPLES], ids=SAMPLE_IDS)
def test_replace_text_rewrites_the_place_it_came_from(fields: dict[str, Any]) -> None:
    """Every text but a key list rewrites its own string; key lists are never rewritten."""
    for field in parse(fields).texts:
        parsed = parse(fields)
        before = copy.deepcopy(parsed.body)
        rewritten = parsed.replace_text(field, "[REDACTED]")
        assert rewritten == (field.path[-1] != KEY)
        if rewritten:
            assert lookup(parsed.body, field.path) == "[REDACTED]"
            assert lookup(before, field.path) == field.text
        else:
            assert parsed.body == before


ADAPTERS = {name: TypeAdapter(kind) for name, kind in {
    "block": types.ContentBlockParam, "message": types.MessageParam,
    "tool": types.ToolUnionParam, "text": types.TextBlockParam,
    "tool_result": types.tool_result_block_param.Content,
    "source": types.ContentBlockSourceContentParam}.items()}


def sdk_check_request(fields: dict[str, Any]) -> None:
    """The SDK's TypedDicts validate iterables lazily: each nested block is checked here."""
    for message in fields["messages"]:
        ADAPTERS["message"].validate_python(message)
        for block in message["content"] if isinstance(message["content"], list) else ():
            ADAPTERS["text" if message["role"] == "system" else "block"].validate_python(block)
            for inner in block.get("content") if isinstance(block.get("content"), list) else ():
                name = {"tool_result": "tool_result", "search_result": "text"}.get(block["type"])
                if name:
                    ADAPTERS[name].validate_python(inner)
            source = block.get("source")
            inner_blocks = source.get("content") if isinstance(source, dict) else None
            for inner in inner_blocks if isinstance(inner_blocks, list) else ():
                ADAPTERS["source"].validate_python(inner)
    for tool in fields.get("tools", ()):
        ADAPTERS["tool"].validate_python(tool)


@pytest.mark.parametrize("fields", [sample[1] for sample in REQUEST_SAMPLES], ids=SAMPLE_IDS)
def test_request_samples_are_valid_for_the_sdk(fields: dict[str, Any]) -> None:
    sdk_check_request(fields)


def test_a_stream_request_is_a_stream() -> None:
    parsed = parse(body(user("hi"), stream=True))
    assert parsed.stream and parsed.model == MODEL


# id, body with one shape this dialect does not know, the BadRequest's param
UNKNOWN_SHAPES: list[tuple[str, dict[str, Any], str]] = [
    ("block type", body(user({"type": "audio", "data": "x"})), "messages[0].content[0]"),
    ("block without type", body(user({"text": "hi"})), "messages[0].content[0]"),
    ("block not an object", body(user("a"), assistant("b"), user(["x"])),
     "messages[2].content[0]"),
    ("image in system", body(user("hi"), system=[IMAGE]), "system[0]"),
    ("thinking in a tool result", body(user({
        "type": "tool_result", "tool_use_id": "t", "content": [{
            "type": "thinking", "thinking": "x", "signature": "s"}]})),
     "messages[0].content[0].content[0]"),
    ("image in a search result", body(user({
        "type": "search_result", "source": "s", "title": "t", "content": [IMAGE]})),
     "messages[0].content[0].content[0]"),
    ("document source type", body(user({"type": "document", "source": {"type": "weird"}})),
     "messages[0].content[0].source"),
    ("message not an object", body(user("hi"), "hello"), "messages[1]"),
    ("message role", body({"role": "tool", "content": "hi"}), "messages[0].role"),
    ("message without content", body({"role": "user"}), "messages[0].content"),
    ("content a number", body({"role": "user", "content": 42}), "messages[0].content"),
    ("text not a string", body(user({"type": "text", "text": ["a"]})),
     "messages[0].content[0].text"),
    ("tool input not an object", body(assistant({
        "type": "tool_use", "id": "t", "name": "n", "input": "{}"})),
     "messages[0].content[0].input"),
    ("system a number", body(user("hi"), system=7), "system"),
    ("tools not an array", body(user("hi"), tools={"name": "x"}), "tools"),
    ("tool not an object", body(user("hi"), tools=["x"]), "tools[0]"),
    ("output config not an object", body(user("hi"), output_config="json"), "output_config"),
]


@pytest.mark.parametrize(("fields", "param"), [s[1:] for s in UNKNOWN_SHAPES],
                         ids=[s[0] for s in UNKNOWN_SHAPES])
def test_unknown_shapes_are_rejected_with_their_param(fields: dict[str, Any],
                                                      param: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse(fields)
    assert caught.value.param == param and caught.value.status == 400
    assert caught.value.message.startswith(param)


@pytest.mark.parametrize("fields", [s[1] for s in UNKNOWN_SHAPES],
                         ids=[s[0] for s in UNKNOWN_SHAPES])
def test_forward_unknown_counts_instead_of_rejecting(fields: dict[str, Any]) -> None:
    parsed = parse(fields, forward_unknown=True)
    assert parsed.unknown == 1
    if user("hi") in fields["messages"]:
        assert "hi" in {t.text for t in parsed.texts}, "the known parts are still read"


def test_a_forwarded_unknown_role_is_read_as_the_user() -> None:
    parsed = parse(body({"role": "tool", "content": "what the tool said"}), True)
    assert [(t.role, t.text) for t in parsed.texts] == [("user", "what the tool said")]


@pytest.mark.parametrize(("raw", "param"), [
    (b"{not json", None), (b"\xff\xfe", None), (b"[]", None), (b'"text"', None),
    (orjson.dumps({"model": MODEL}), "messages"),
    (orjson.dumps(body()), "messages"),
    (orjson.dumps({"model": MODEL, "messages": {"role": "user"}}), "messages"),
    (orjson.dumps(body(user("hi"), stream="yes")), "stream"),
], ids=["not json", "not utf-8", "array", "string", "no messages", "empty messages",
        "messages an object", "stream a string"])
def test_bad_requests_are_rejected_even_when_forwarding_unknown(raw: bytes,
                                                                param: str | None) -> None:
    for forward_unknown in (False, True):
        with pytest.raises(BadRequest) as caught:
            DIALECT.parse_request(raw, forward_unknown=forward_unknown)
        assert caught.value.param == param


def test_absurdly_nested_tool_input_is_refused() -> None:
    deep: dict[str, Any] = {"x": "bottom"}
    for _ in range(80):
        deep = {"x": deep}
    with pytest.raises(BadRequest):
        parse(body(assistant({"type": "tool_use", "id": "t", "name": "n", "input": deep})))


def message(*content: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"id": "msg_01XFDUDYJgAACzvnptvVoYEL", "type": "message", "role": "assistant",
            "model": MODEL, "content": list(content), "stop_reason": "end_turn",
            "stop_sequence": None, "usage": {"input_tokens": 12, "output_tokens": 34},
            **fields}


EVERY_ANSWER_BLOCK = message(
    {"type": "thinking", "thinking": "The user wants weather.", "signature": "EqQBCgIYAh"},
    {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"},
    text("It is sunny.", citations=[{
        "type": "web_search_result_location", "cited_text": "Sunny all day",
        "url": "https://ex.com", "title": "Forecast", "encrypted_index": "Eo8BCioIAhgB"}]),
    {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}},
    {"type": "server_tool_use", "id": "srvtoolu_01", "name": "web_search",
     "input": {"query": "paris weather"}},
    server_result("web_search_tool_result", [{
        "type": "web_search_result", "url": "https://ex.com", "title": "Example",
        "encrypted_content": "EqgfCioIARgB", "page_age": None}]),
    server_result("web_fetch_tool_result", {
        "type": "web_fetch_result", "url": "https://ex.com/p",
        "content": plain_document("Page text", title="Page", context="Fetched")}),
    server_result("code_execution_tool_result", {
        "type": "code_execution_result", "stdout": "42", "stderr": "", "return_code": 0,
        "content": []}),
    server_result("bash_code_execution_tool_result", {
        "type": "bash_code_execution_result", "stdout": "a.txt", "stderr": "oops",
        "return_code": 1, "content": []}),
    server_result("text_editor_code_execution_tool_result", {
        "type": "text_editor_code_execution_view_result", "content": "body",
        "file_type": "text"}),
    server_result("tool_search_tool_result", {
        "type": "tool_search_tool_search_result",
        "tool_references": [{"type": "tool_reference", "tool_name": "get_weather"}]}),
    {"type": "container_upload", "file_id": "file_01"},
    stop_reason="refusal",
    stop_details={"type": "refusal", "category": "cyber", "explanation": "Not safe."})

# id, answer body, texts as (kind, text); all output 0
ANSWER_SAMPLES: list[tuple[str, dict[str, Any], list[tuple[str, str]]]] = [
    ("text", message(text("Hello!")), [("text", "Hello!")]),
    ("an image block (a compatible server)", message({"type": "image", "source": {
        "type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo"}}),
     [("image", "iVBORw0KGgo")]),  # its base64: the pipeline reads the text in it
    ("every block type", EVERY_ANSWER_BLOCK, [
        ("thinking", "The user wants weather."), ("text", "It is sunny."),
        ("citation", "Sunny all day"), ("citation", "https://ex.com"),
        ("citation", "Forecast"), ("tool_use.name", "get_weather"),
        ("tool_use.input", '{"city":"Paris"}'), ("tool_use.name", "web_search"),
        ("tool_use.input", '{"query":"paris weather"}'),
        ("server_tool_result", "https://ex.com"), ("server_tool_result", "Example"),
        ("server_tool_result", "https://ex.com/p"), ("document.title", "Page"),
        ("document.context", "Fetched"), ("document", "Page text"),
        ("server_tool_result", "42"), ("server_tool_result", "a.txt"),
        ("server_tool_result", "oops"), ("server_tool_result", "body"),
        ("server_tool_result", "get_weather"), ("extension", "Not safe.")]),
    ("unknown block type", message({"type": "hologram", "id": "h1", "caption": "psst"}),
     [("extension", "psst")]),
    ("malformed known block", message({"type": "text", "text": {"hidden": "psst"}}),
     [("extension", "psst")]),
    ("empty tool input", message({"type": "tool_use", "id": "t", "name": "n", "input": {}}),
     [("tool_use.name", "n")]),
    ("no content", {"type": "message"}, []),
    ("content a string", {"content": "raw"}, [("extension", "raw")]),
]


@pytest.mark.parametrize(("answer", "texts"), [s[1:] for s in ANSWER_SAMPLES],
                         ids=[s[0] for s in ANSWER_SAMPLES])
def test_answer_texts(answer: dict[str, Any], texts: list[tuple[str, str]]) -> None:
    assert DIALECT.answer_texts(answer) == [AnswerText(0, kind, t) for kind, t in texts]


def test_answer_samples_are_valid_for_the_sdk() -> None:
    for answer in (ANSWER_SAMPLES[0][1], EVERY_ANSWER_BLOCK):
        parsed = types.Message.model_validate(answer)  # raises on a wrong wire shape
        assert [block.type for block in parsed.content] == [b["type"] for b in answer["content"]]


def test_block_answer_is_a_refusal_that_keeps_the_usage() -> None:
    answer = copy.deepcopy(EVERY_ANSWER_BLOCK) | {"stop_reason": "tool_use"}
    DIALECT.block_answer(answer, {0}, "I can't help with that.", SAFETY)
    blocked = types.Message.model_validate(answer)
    assert [(b.type, b.text) for b in blocked.content] == [("text", "I can't help with that.")]
    assert (blocked.stop_reason, blocked.stop_sequence) == ("refusal", None)
    assert blocked.stop_details is not None and blocked.stop_details.type == "refusal"
    assert blocked.usage.output_tokens == 34 and answer["safety"] == SAFETY
    assert DIALECT.answer_texts(answer) == [AnswerText(0, "text", "I can't help with that.")]
    untouched = message(text("fine"))
    DIALECT.block_answer(untouched, set(), "No.", SAFETY)
    assert untouched == message(text("fine"))


def test_input_blocked_error_is_anthropics_invalid_request_error() -> None:
    status, error = DIALECT.input_blocked(parse(body(user("bad"))), "req-1", SAFETY, "No.",
                                          "error")
    assert status == 400 and isinstance(error, dict)
    parsed = types.shared.ErrorResponse.model_validate(error)
    assert parsed.error.type == "invalid_request_error"
    assert "request was rejected as a result of the safety system" in parsed.error.message
    assert error["error"]["safety"] == error["safety"] == SAFETY


def test_input_blocked_refusal_is_a_message() -> None:
    status, answer = DIALECT.input_blocked(parse(body(user("bad"))), "req-1", SAFETY,
                                           "I can't help with that.", "refusal")
    assert status == 200 and isinstance(answer, dict)
    refusal = types.Message.model_validate(answer)
    assert (refusal.id, refusal.model, refusal.role, refusal.stop_reason) == (
        "msg_req-1", MODEL, "assistant", "refusal")
    assert [(b.type, b.text) for b in refusal.content] == [("text", "I can't help with that.")]
    assert (refusal.usage.input_tokens, refusal.usage.output_tokens) == (0, 0)
    assert answer["safety"] == SAFETY


def decode(raw: bytes) -> list[SSEEvent]:
    decoder = SSEDecoder()
    return decoder.feed(raw) + decoder.close()


STREAM_EVENT = TypeAdapter(types.RawMessageStreamEvent)


def check_events(raw: bytes) -> list[dict[str, Any]]:
    """Each event is named after its JSON type and valid for the SDK."""
    events = []
    for event in decode(raw):
        data = orjson.loads(event.data)
        assert event.event == data["type"]
        STREAM_EVENT.validate_python(data)
        events.append(data)
    return events


def test_input_blocked_refusal_streams_a_whole_message() -> None:
    status, raw = DIALECT.input_blocked(parse(body(user("bad"), stream=True)), "req-1",
                                        SAFETY, "I can't help with that.", "refusal")
    assert status == 200 and isinstance(raw, bytes)
    events = check_events(raw)
    assert [e["type"] for e in events] == [
        "message_start", "content_block_start", "content_block_delta", "content_block_stop",
        "message_delta", "message_stop"]
    assert events[0]["message"]["id"] == "msg_req-1"
    assert events[0]["message"]["model"] == MODEL
    assert events[2]["delta"] == {"type": "text_delta", "text": "I can't help with that."}
    assert events[4]["delta"]["stop_reason"] == "refusal" and events[4]["safety"] == SAFETY


@pytest.mark.parametrize(("error", "kind"), [
    (BadRequest("bad"), "invalid_request_error"),
    (BodyTooLarge("big"), "request_too_large"),
    (Banned("no"), "permission_error"),
    (Throttled("slow down"), "rate_limit_error"),
    (UpstreamUnreachable("down"), "api_error"),
    (Unavailable("busy"), "api_error"),
    (UpstreamTimeout("late"), "timeout_error"),
    (ProxyError("boom"), "api_error"),
    *[(type("E", (ProxyError,), {"status": status})("x"), kind) for status, kind in [
        (401, "authentication_error"), (404, "not_found_error"), (409, "invalid_request_error"),
        (529, "overloaded_error")]],
])
def test_error_body_is_anthropics_error_shape(error: ProxyError, kind: str) -> None:
    error_body = DIALECT.error_body(error)
    assert error_body == {"type": "error", "error": {"type": kind, "message": error.message}}
    if kind != "request_too_large":  # documented by the API, not in the SDK's union
        types.shared.ErrorResponse.model_validate(error_body)


def upstream_event(data: dict[str, Any]) -> bytes:
    return encode(orjson.dumps(data), data["type"])


def delta(index: int, **fields: Any) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": fields}


def start(index: int, block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": block}


def stop(index: int) -> dict[str, Any]:
    return {"type": "content_block_stop", "index": index}


MESSAGE_START: dict[str, Any] = {"type": "message_start", "message": message() | {
    "id": "msg_up1", "model": "claude-test-model-20990101", "stop_reason": None,
    "usage": {"input_tokens": 25, "output_tokens": 1}}}
CITATION = {"type": "char_location", "cited_text": "the grass is green", "document_index": 0,
            "document_title": "Facts", "start_char_index": 0, "end_char_index": 18}
# (event, the texts its view carries)
STREAM: list[tuple[dict[str, Any], list[str]]] = [
    (MESSAGE_START, []),
    ({"type": "ping"}, []),
    (start(0, {"type": "thinking", "thinking": "", "signature": ""}), []),
    (delta(0, type="thinking_delta", thinking="Weather needs "), ["Weather needs "]),
    (delta(0, type="thinking_delta", thinking="a tool."), ["a tool."]),
    (delta(0, type="signature_delta", signature="EqQBCgIYAhIM1gbcDa9GJwZA"), []),
    (stop(0), []),
    (start(1, {"type": "text", "text": ""}), []),
    (delta(1, type="text_delta", text="Let me check"), ["\nLet me check"]),
    (delta(1, type="citations_delta", citation=CITATION), ["the grass is green\nFacts"]),
    (delta(1, type="text_delta", text=" the weather."), [" the weather."]),
    (stop(1), []),
    (start(2, {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {}}),
     ["\nget_weather"]),
    (delta(2, type="input_json_delta", partial_json=""), []),
    (delta(2, type="input_json_delta", partial_json='{"city": "Pa'), ['{"city": "Pa']),
    (delta(2, type="input_json_delta", partial_json='ris"}'), ['ris"}']),
    (stop(2), []),
    ({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
      "usage": {"output_tokens": 89}}, []),
    ({"type": "message_stop"}, []),
]


def stream_bytes(events: list[dict[str, Any]]) -> bytes:
    return b"".join(upstream_event(event) for event in events)


def test_stream_through_the_codec() -> None:
    raw = stream_bytes([event for event, _ in STREAM])
    check_events(raw.replace(b"event: ping\ndata: {\"type\":\"ping\"}\n\n", b""))
    codec = DIALECT.stream(parse(body(user("weather?"), stream=True)), "req-1")
    decoder, views = SSEDecoder(), []
    for offset in range(0, len(raw), 7):  # split anywhere
        views += [codec.read(event) for event in decoder.feed(raw[offset:offset + 7])]
    views += [codec.read(event) for event in decoder.close()]
    assert [[t for _, t in view.texts] for view in views] == [texts for _, texts in STREAM]
    assert {output for view in views for output, _ in view.texts} == {0}
    assert [view.ends for view in views] == [False] * (len(STREAM) - 2) + [True, True]
    assert views[0].model == "claude-test-model-20990101"
    assert views[-1].finished == {0}


@pytest.mark.parametrize("data", [
    "not json", "[1, 2]", '"text"', "null", "{}", '{"type": ["x"]}', '{"type": "hologram"}',
    '{"type": "message_start", "message": "x"}', '{"type": "message_start", "message": {'
    '"id": 5, "model": [], "usage": "x"}}', '{"type": "content_block_start", "index": "a"}',
    '{"type": "content_block_start", "index": 0, "content_block": [1]}',
    '{"type": "content_block_stop", "index": [1]}', '{"type": "content_block_delta"}',
    '{"type": "content_block_delta", "index": 0, "delta": 5}',
    '{"type": "message_delta", "delta": 5, "usage": 5}', "",
])
def test_read_never_raises_on_garbage(data: str) -> None:
    codec = DIALECT.stream(parse(body(user("hi"), stream=True)), "req-1")
    view = codec.read(SSEEvent(data))
    relayed_as_is = not data.startswith("{") and data.strip()  # no JSON object: read as text
    no_message = data == '{"type": "message_start", "message": "x"}'  # its strings are read
    text_index = '"index": "a"' in data  # text where the index belongs: read
    assert view.texts == ([(0, data)] if relayed_as_is else [(0, "x")] if no_message else
                          [(0, "a")] if text_index else [])
    assert view.model is None
    assert codec.cut([0], SAFETY, None)  # and can still end the stream


def test_an_unknown_delta_type_is_scored() -> None:
    codec = DIALECT.stream(parse(body(user("hi"), stream=True)), "req-1")
    view = codec.read(SSEEvent(orjson.dumps(delta(0, type="poem_delta", verse="psst")).decode()))
    assert view.texts == [(0, "psst")]


def test_a_prefilled_start_block_is_scored() -> None:
    codec = DIALECT.stream(parse(body(user("hi"), stream=True)), "req-1")
    raw = orjson.dumps(start(0, {"type": "text", "text": "Already here"})).decode()
    assert codec.read(SSEEvent(raw)).texts == [(0, "Already here")]


def read_all(codec: Any, events: list[dict[str, Any]]) -> None:
    for event in events:
        codec.read(SSEEvent(orjson.dumps(event).decode(), event["type"]))


@pytest.mark.parametrize(("read", "refusal", "expected"), [
    (8, None, [("content_block_stop", 1), ("message_delta", None), ("message_stop", None)]),
    (13, None, [("content_block_stop", 2), ("message_delta", None), ("message_stop", None)]),
    (3, "Sorry, no.", [("content_block_stop", 0), ("content_block_start", 1),
                       ("content_block_delta", 1), ("content_block_stop", 1),
                       ("message_delta", None), ("message_stop", None)]),
    (1, "Sorry, no.", [("content_block_start", 0), ("content_block_delta", 0),
                       ("content_block_stop", 0), ("message_delta", None),
                       ("message_stop", None)]),
    (0, "Sorry, no.", [("message_start", None), ("content_block_start", 0),
                       ("content_block_delta", 0), ("content_block_stop", 0),
                       ("message_delta", None), ("message_stop", None)]),
], ids=["text block open", "tool block open", "refusal after an empty block",
        "refusal after message_start", "refusal before anything"])
def test_cut_closes_open_blocks_and_ends_with_refusal(
        read: int, refusal: str | None, expected: list[tuple[str, int | None]]) -> None:
    codec = DIALECT.stream(parse(body(user("weather?"), stream=True)), "req-1")
    read_all(codec, [event for event, _ in STREAM[:read]])
    events = check_events(codec.cut([0], SAFETY, refusal))
    assert [(e["type"], e.get("index")) for e in events] == expected
    *_, last_delta, _ = events
    assert last_delta["delta"]["stop_reason"] == "refusal" and last_delta["safety"] == SAFETY
    texts = [e["delta"]["text"] for e in events if e["type"] == "content_block_delta"]
    assert texts == ([refusal] if refusal else [])


def sdk_client(status: int, answer: dict[str, Any] | bytes) -> Any:
    """The official SDK, answered by ``answer`` through an in-memory transport."""
    def reply(_: Any) -> Any:
        if isinstance(answer, bytes):
            return httpx2.Response(status, content=answer,
                                   headers={"content-type": "text/event-stream"})
        return httpx2.Response(status, json=answer)

    return anthropic.Anthropic(api_key="sk-ant-test", base_url="http://proxy.test",
                               max_retries=0,
                               http_client=httpx2.Client(transport=httpx2.MockTransport(reply)))


def ask(client: Any, stream: bool = False) -> Any:
    request = {"model": MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": "x"}]}
    if not stream:
        return client.messages.create(**request)
    with client.messages.stream(**request) as events:
        return events.get_final_message()


def test_the_sdk_reads_every_block() -> None:
    parsed = parse(body(user("bad"), stream=True))
    with pytest.raises(anthropic.BadRequestError) as caught:
        ask(sdk_client(*DIALECT.input_blocked(parsed, "r1", SAFETY, "No.", "error")))
    assert caught.value.body["error"]["safety"] == SAFETY
    refusal = ask(sdk_client(*DIALECT.input_blocked(parsed, "r1", SAFETY, "No.", "refusal")),
                  stream=True)
    assert ([b.text for b in refusal.content], refusal.stop_reason) == (["No."], "refusal")
    codec = DIALECT.stream(parsed, "r1")
    read_all(codec, [event for event, _ in STREAM[:10]])
    relayed = stream_bytes([event for event, _ in STREAM[:10]])
    cut = ask(sdk_client(200, relayed + codec.cut([0], SAFETY, None)), stream=True)
    assert [b.type for b in cut.content] == ["thinking", "text"]
    assert cut.content[1].text == "Let me check" and cut.stop_reason == "refusal"
    answer = copy.deepcopy(EVERY_ANSWER_BLOCK)
    DIALECT.block_answer(answer, {0}, "No.", SAFETY)
    assert ask(sdk_client(200, answer)).content[0].text == "No."


def test_declared_kinds_are_the_kinds_produced() -> None:
    request_kinds = {t.kind for _, fields, _, _ in REQUEST_SAMPLES for t in parse(fields).texts}
    answer_kinds = {t.kind for _, answer, _ in ANSWER_SAMPLES
                    for t in DIALECT.answer_texts(answer)}
    codec = DIALECT.stream(parse(body(user("hi"), stream=True)), "req-1")
    stream_events = set()
    for event, _ in STREAM:
        if codec.read(SSEEvent(orjson.dumps(event).decode(), event["type"])).texts:
            stream_events.add(event.get("delta", {}).get("type", event["type"]))
    assert (request_kinds | {FILE_KIND, IMAGE_KIND}, answer_kinds, stream_events) == (
        REQUEST_KINDS, ANSWER_KINDS, STREAM_EVENTS)  # files: read by the pipeline


def test_the_module_satisfies_the_dialect_contract() -> None:
    dialect: Dialect = DIALECT
    parsed: ParsedRequest = dialect.parse_request(orjson.dumps(body(user("hi"))))
    view: EventView = dialect.stream(parsed, "r").read(SSEEvent('{"type": "message_stop"}'))
    assert (dialect.name, dialect.upstream_path, view.ends) == ("messages", "messages", True)


def test_a_filled_message_start_and_a_refusal_explanation_are_scored() -> None:
    codec = DIALECT.stream(parse(body(user("hi"), stream=True)), "req-1")
    filled = MESSAGE_START | {"message": MESSAGE_START["message"] | {"content": [text("Hi")]}}
    assert codec.read(SSEEvent(orjson.dumps(filled).decode())).texts == [(0, "Hi")]
    explained = {"type": "message_delta", "usage": {"output_tokens": 3}, "delta": {
        "stop_reason": "refusal", "stop_details": {"type": "refusal", "explanation": "Why."}}}
    view = codec.read(SSEEvent(orjson.dumps(explained).decode()))
    assert (view.texts, view.ends, view.finished) == ([(0, "\nWhy.")], True, {0})


@pytest.mark.parametrize(("read", "relayed", "refusal", "content"), [
    (10, 0, "Sorry, no.", [("text", "Sorry, no.")]),
    (13, 8, None, [("thinking", "Weather needs a tool."), ("text", "")]),
    (13, 11, "Sorry, no.", [("thinking", "Weather needs a tool."),
                            ("text", "Let me check the weather."), ("text", "Sorry, no.")]),
    (13, None, None, [("thinking", "Weather needs a tool."),
                      ("text", "Let me check the weather."), ("tool_use", "")]),
], ids=["buffered first window", "held block start dropped", "refusal after relayed blocks",
        "everything relayed"])
def test_cut_ends_the_stream_the_client_saw(read: int, relayed: int | None,
                                            refusal: str | None,
                                            content: list[tuple[str, str]]) -> None:
    """A buffered relay drops what it held: the client saw only the first ``relayed``
    events, and the SDK must accept those plus the cut as one well-formed stream."""
    codec = DIALECT.stream(parse(body(user("weather?"), stream=True)), "req-1")
    assert isinstance(codec, MessagesStream)
    read_all(codec, [event for event, _ in STREAM[:read]])
    seen = [event for event, _ in STREAM[:read if relayed is None else relayed]]
    cut = codec.cut([0], SAFETY, refusal, relayed=relayed)
    check_events(cut)
    final = ask(sdk_client(200, stream_bytes(seen) + cut), stream=True)
    assert [(b.type, getattr(b, "text", getattr(b, "thinking", ""))) for b in final.content
            ] == content
    assert final.stop_reason == "refusal"
