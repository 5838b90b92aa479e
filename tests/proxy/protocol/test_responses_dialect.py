"""Table tests of the Responses API dialect, its samples written from the API reference and
checked against the official SDK's own types (request params, Response, stream events), so
the wire shapes are real."""

from __future__ import annotations

import random
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
import pydantic
import pytest
from openai import omit
from openai.lib.streaming.responses import ResponseStreamState
from openai.types.responses import (
    Response,
    ResponseInputItemParam,
    ResponseOutputItem,
    ResponseStreamEvent,
    ToolParam,
)
from openai.types.responses.response_create_params import ResponseCreateParamsNonStreaming

from proxy.protocol.dialect import (
    AUDIO_KIND,
    FILE_KIND,
    IMAGE_KIND,
    KEY,
    AnswerText,
    ParsedRequest,
    TextField,
)
from proxy.protocol.errors import BadRequest, UpstreamTimeout
from proxy.protocol.responses import (
    ANSWER_KINDS,
    DIALECT,
    REQUEST_KINDS,
    STREAM_EVENTS,
    ResponsesDialect,
)
from proxy.protocol.responses_items import (
    FORMAT_SPOTS,
    ITEM_SPOTS,
    PART_TEXT,
    TOOL_SPOTS,
    Spot,
)
from proxy.protocol.responses_stream import STREAMED_TEXT, ResponsesStream
from proxy.protocol.sse import SSEDecoder, SSEEvent
from tests.support.stand_in import assert_stands_in

MODEL = "gpt-4.1"
SAFETY = {"direction": "output", "decision": "block",
          "reasons": [{"classifier": "toxicity", "label": "toxic", "score": 0.97}]}
REFUSAL = "Sorry, I can't help with that."
CREATE_PARAMS = pydantic.TypeAdapter(ResponseCreateParamsNonStreaming)
STREAM_EVENT = pydantic.TypeAdapter(ResponseStreamEvent)
OUTPUT_ITEM = pydantic.TypeAdapter(ResponseOutputItem)

Text = tuple[str, str, tuple[str | int, ...], str]  # role, kind, path, text


@dataclass(frozen=True)
class RequestSample:
    name: str
    fields: dict[str, Any]
    texts: list[Text]
    unreadable: int = 0
    sdk: bool = True  # a valid ResponseCreateParams (False: conversation-item shapes)

    @property
    def body(self) -> dict[str, Any]:
        return {"model": MODEL, **self.fields}


def items(*input_items: dict[str, Any]) -> dict[str, Any]:
    return {"input": list(input_items)}


def at(*path: str | int) -> tuple[str | int, ...]:
    return path


A, T, U, D = "assistant", "tool", "user", "definition"
FUNCTION_TOOL = {"type": "function", "name": "get_weather", "description": "Gets the weather",
                 "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                 "strict": True, "output_schema": {"type": "string"}}
SCHEMA_TEXT = "type\nobject\nproperties\ncity\ntype\nstring"  # keys and strings, in order
JSON_SCHEMA_FORMAT = {"type": "json_schema", "name": "answer", "description": "An answer",
                      "schema": {"type": "object"}, "strict": True}
BUILT_IN_TOOLS = [
    {"type": "file_search", "vector_store_ids": ["vs_1"]}, {"type": "computer"},
    {"type": "computer_use_preview", "display_width": 1024, "display_height": 768,
     "environment": "browser"},
    {"type": "web_search", "user_location": {"type": "approximate", "city": "Paris"}},
    {"type": "web_search_preview"}, {"type": "code_interpreter", "container": {"type": "auto"}},
    {"type": "image_generation"}, {"type": "local_shell"}, {"type": "apply_patch"},
    {"type": "programmatic_tool_calling"},
]

REQUEST_SAMPLES = [
    RequestSample("input string", {"input": "Hello"}, [(U, "input", at("input"), "Hello")]),
    RequestSample("instructions", {"instructions": "Be terse.", "input": "Hi"}, [
        ("developer", "instructions", at("instructions"), "Be terse."),
        (U, "input", at("input"), "Hi")]),
    *[RequestSample(f"{role} message", items({"role": role, "content": f"{role} says"}),
                    [(role, "message_text", at("input", 0, "content"), f"{role} says")])
      for role in ("user", "system", "developer", "assistant")],
    RequestSample("user parts", items({"type": "message", "role": "user", "content": [
        {"type": "input_text", "text": "What is in this image?"},
        {"type": "input_image", "detail": "auto", "image_url": "https://example.com/c.png"},
        {"type": "input_file", "file_id": "file-abc"}]}),
        [(U, "input_text", at("input", 0, "content", 0, "text"), "What is in this image?")],
        unreadable=2),
    RequestSample("assistant output message", items({
        "type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
        "content": [{"type": "output_text", "text": "Paris.", "annotations": []},
                    {"type": "refusal", "refusal": "I won't."}]}),
        [(A, "output_text", at("input", 0, "content", 0, "text"), "Paris."),
         (A, "refusal", at("input", 0, "content", 1, "refusal"), "I won't.")]),
    RequestSample("conversation item parts", items({"role": "assistant", "content": [
        {"type": "summary_text", "text": "Summed up."},
        {"type": "reasoning_text", "text": "Thinking."}]}),
        [(A, "summary_text", at("input", 0, "content", 0, "text"), "Summed up."),
         (A, "reasoning_text", at("input", 0, "content", 1, "text"), "Thinking.")], sdk=False),
    RequestSample("input audio", items({"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": "UklGR", "format": "wav"}}]}),
        [], unreadable=1, sdk=False),
    RequestSample("function call", items({
        "type": "function_call", "call_id": "call_1", "name": "get_weather",
        "arguments": '{"city":"Paris"}'}),
        [(A, "function_call_name", at("input", 0, "name"), "get_weather"),
         (A, "function_call_arguments", at("input", 0, "arguments"), '{"city":"Paris"}')]),
    RequestSample("function output string", items(
        {"type": "function_call_output", "call_id": "call_1", "output": "18 degrees"}),
        [(T, "function_call_output", at("input", 0, "output"), "18 degrees")]),
    RequestSample("function output parts", items({
        "type": "function_call_output", "call_id": "call_1", "output": [
            {"type": "input_text", "text": "See the chart"},
            {"type": "input_image", "image_url": "https://example.com/chart.png"},
            {"type": "input_file", "file_data": "JVBERi0", "filename": "r.pdf"}]}),
        [(T, "function_call_output", at("input", 0, "output", 0, "text"), "See the chart")],
        unreadable=2),
    RequestSample("custom tool call", items({
        "type": "custom_tool_call", "call_id": "call_2", "name": "run_sql",
        "input": "SELECT 1"}),
        [(A, "custom_tool_call_name", at("input", 0, "name"), "run_sql"),
         (A, "custom_tool_call_input", at("input", 0, "input"), "SELECT 1")]),
    RequestSample("custom tool output", items(
        {"type": "custom_tool_call_output", "call_id": "call_2", "output": "1 row"},
        {"type": "custom_tool_call_output", "call_id": "call_2", "output": [
            {"type": "input_text", "text": "2 rows"},
            {"type": "input_image", "detail": "low", "image_url": "https://example.com/t.png"}]}),
        [(T, "custom_tool_call_output", at("input", 0, "output"), "1 row"),
         (T, "custom_tool_call_output", at("input", 1, "output", 0, "text"), "2 rows")],
        unreadable=1),
    RequestSample("reasoning", items({
        "type": "reasoning", "id": "rs_1",
        "summary": [{"type": "summary_text", "text": "Check the forecast."}],
        "content": [{"type": "reasoning_text", "text": "The user wants weather."}],
        "encrypted_content": "gAAAAB"}),
        [(A, "reasoning_summary", at("input", 0, "summary", 0, "text"), "Check the forecast."),
         (A, "reasoning_content", at("input", 0, "content", 0, "text"),
          "The user wants weather.")], unreadable=1),
    RequestSample("compaction", items({"type": "compaction", "encrypted_content": "gAAAAB"},
                                      {"type": "compaction_trigger"}), [], unreadable=1),
    RequestSample("file search call", items({
        "type": "file_search_call", "id": "fs_1", "status": "completed",
        "queries": ["refund policy"], "results": [
            {"file_id": "file-1", "filename": "policy.md", "score": 0.9,
             "text": "Refunds within 30 days."}]}),
        [(A, "file_search_query", at("input", 0, "queries", 0), "refund policy"),
         (T, "file_search_result", at("input", 0, "results", 0, "text"),
          "Refunds within 30 days.")]),
    RequestSample("web search calls", items(
        {"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {
            "type": "search", "query": "paris weather", "queries": ["paris forecast"]}},
        {"type": "web_search_call", "id": "ws_2", "status": "completed", "action": {
            "type": "find_in_page", "pattern": "humidity", "url": "https://example.com"}},
        {"type": "web_search_call", "id": "ws_3", "status": "completed",
         "action": {"type": "open_page", "url": "https://example.com"}}),
        [(A, "web_search_query", at("input", 0, "action", "query"), "paris weather"),
         (A, "web_search_query", at("input", 0, "action", "queries", 0), "paris forecast"),
         (A, "web_search_query", at("input", 1, "action", "pattern"), "humidity")]),
    RequestSample("computer call", items(
        {"type": "computer_call", "id": "cu_1", "call_id": "call_3", "status": "completed",
         "pending_safety_checks": [], "action": {"type": "type", "text": "hello world"},
         "actions": [{"type": "click", "button": "left", "x": 1, "y": 2},
                     {"type": "type", "text": "second"}]},
        {"type": "computer_call_output", "call_id": "call_3", "output": {
            "type": "computer_screenshot", "image_url": "data:image/png;base64,iVBOR"}}),
        [(A, "computer_action_text", at("input", 0, "action", "text"), "hello world"),
         (A, "computer_action_text", at("input", 0, "actions", 1, "text"), "second")],
        unreadable=1),
    RequestSample("tool search", items(
        {"type": "tool_search_call", "call_id": "ts_1", "arguments": {"query": "calendar"}},
        {"type": "tool_search_output", "call_id": "ts_1", "tools": [FUNCTION_TOOL]}),
        [(A, "tool_search_arguments", at("input", 0, "arguments", KEY), "query\ncalendar"),
         (D, "tool_name", at("input", 1, "tools", 0, "name"), "get_weather"),
         (D, "tool_description", at("input", 1, "tools", 0, "description"), "Gets the weather"),
         (D, "tool_schema", at("input", 1, "tools", 0, "parameters", KEY), SCHEMA_TEXT),
         (D, "tool_schema", at("input", 1, "tools", 0, "output_schema", KEY), "type\nstring")]),
    RequestSample("additional tools", items({
        "type": "additional_tools", "role": "developer",
        "tools": [{"type": "custom", "name": "sketch", "description": "Draws a sketch"}]}),
        [(D, "tool_name", at("input", 0, "tools", 0, "name"), "sketch"),
         (D, "tool_description", at("input", 0, "tools", 0, "description"), "Draws a sketch")]),
    RequestSample("configuration update", items(
        {"type": "configuration_update", "text": {"format": JSON_SCHEMA_FORMAT}}),
        [(D, "text_format_name", at("input", 0, "text", "format", "name"), "answer"),
         (D, "text_format_description", at("input", 0, "text", "format", "description"),
          "An answer"),
         (D, "text_format_schema", at("input", 0, "text", "format", "schema", KEY),
          "type\nobject")]),
    RequestSample("image generation call", items({
        "type": "image_generation_call", "id": "ig_1", "status": "completed",
        "result": "iVBORw0", "revised_prompt": "A cat in a hat"}),
        [(A, "image_generation_prompt", at("input", 0, "revised_prompt"), "A cat in a hat")],
        unreadable=1),
    RequestSample("code interpreter call", items({
        "type": "code_interpreter_call", "id": "ci_1", "container_id": "cntr_1",
        "status": "completed", "code": "print(1 + 1)", "outputs": [
            {"type": "logs", "logs": "2"},
            {"type": "image", "url": "https://example.com/plot.png"}]}),
        [(A, "code_interpreter_code", at("input", 0, "code"), "print(1 + 1)"),
         (T, "code_interpreter_logs", at("input", 0, "outputs", 0, "logs"), "2")],
        unreadable=1),
    RequestSample("local shell", items(
        {"type": "local_shell_call", "id": "ls_1", "call_id": "call_4", "status": "completed",
         "action": {"type": "exec", "command": ["ls", "-la"], "env": {}}},
        {"type": "local_shell_call_output", "id": "call_4", "output": "total 0"}),
        [(A, "shell_command", at("input", 0, "action", "command", 0), "ls"),
         (A, "shell_command", at("input", 0, "action", "command", 1), "-la"),
         (T, "shell_output", at("input", 1, "output"), "total 0")]),
    RequestSample("shell", items(
        {"type": "shell_call", "call_id": "call_5", "action": {"commands": ["echo hi"]}},
        {"type": "shell_call_output", "call_id": "call_5", "output": [
            {"outcome": {"type": "exit", "exit_code": 0}, "stdout": "hi", "stderr": "warn"}]}),
        [(A, "shell_command", at("input", 0, "action", "commands", 0), "echo hi"),
         (T, "shell_output", at("input", 1, "output", 0, "stdout"), "hi"),
         (T, "shell_output", at("input", 1, "output", 0, "stderr"), "warn")]),
    RequestSample("apply patch", items(
        {"type": "apply_patch_call", "call_id": "call_6", "status": "completed",
         "operation": {"type": "update_file", "path": "a.py", "diff": "-x\n+y"}},
        {"type": "apply_patch_call_output", "call_id": "call_6", "status": "completed",
         "output": "patched"}),
        [(A, "apply_patch_diff", at("input", 0, "operation", "diff"), "-x\n+y"),
         (T, "apply_patch_output", at("input", 1, "output"), "patched")]),
    RequestSample("mcp list tools", items({
        "type": "mcp_list_tools", "id": "mcpl_1", "server_label": "wiki",
        "tools": [{"name": "ask", "description": "Ask a question",
                   "input_schema": {"type": "object"}, "annotations": {"title": "Ask"}}],
        "error": "partial listing"}),
        [(D, "tool_name", at("input", 0, "tools", 0, "name"), "ask"),
         (D, "tool_description", at("input", 0, "tools", 0, "description"), "Ask a question"),
         (D, "tool_schema", at("input", 0, "tools", 0, "input_schema", KEY), "type\nobject"),
         (D, "tool_schema", at("input", 0, "tools", 0, "annotations", KEY), "title\nAsk"),
         (T, "mcp_list_tools_error", at("input", 0, "error"), "partial listing")]),
    RequestSample("mcp approval", items(
        {"type": "mcp_approval_request", "id": "mcpr_1", "server_label": "wiki",
         "name": "ask", "arguments": '{"q":"x"}'},
        {"type": "mcp_approval_response", "approval_request_id": "mcpr_1", "approve": False,
         "reason": "Not this repository"}),
        [(A, "mcp_call_name", at("input", 0, "name"), "ask"),
         (A, "mcp_call_arguments", at("input", 0, "arguments"), '{"q":"x"}'),
         (U, "mcp_approval_reason", at("input", 1, "reason"), "Not this repository")]),
    RequestSample("mcp call", items({
        "type": "mcp_call", "id": "mcp_1", "server_label": "wiki", "name": "ask",
        "arguments": "{}", "output": "The answer",
        "error": {"type": "mcp_protocol_error", "code": -32000, "message": "boom"}}),
        [(A, "mcp_call_name", at("input", 0, "name"), "ask"),
         (A, "mcp_call_arguments", at("input", 0, "arguments"), "{}"),
         (T, "mcp_call_output", at("input", 0, "output"), "The answer"),
         (T, "mcp_call_output", at("input", 0, "error", KEY),
          "type\nmcp_protocol_error\ncode\nmessage\nboom")]),
    RequestSample("program", items(
        {"type": "program", "id": "prog_1", "call_id": "call_7", "code": "x = 1",
         "fingerprint": "fp"},
        {"type": "program_output", "id": "po_1", "call_id": "call_7", "result": "1",
         "status": "completed"}),
        [(A, "program_code", at("input", 0, "code"), "x = 1"),
         (T, "program_output", at("input", 1, "result"), "1")]),
    RequestSample("function tool", {"input": "x", "tools": [FUNCTION_TOOL]}, [
        (U, "input", at("input"), "x"),
        (D, "tool_name", at("tools", 0, "name"), "get_weather"),
        (D, "tool_description", at("tools", 0, "description"), "Gets the weather"),
        (D, "tool_schema", at("tools", 0, "parameters", KEY), SCHEMA_TEXT),
        (D, "tool_schema", at("tools", 0, "output_schema", KEY), "type\nstring")]),
    RequestSample("custom and namespace tools", {"input": "x", "tools": [
        {"type": "custom", "name": "sql", "description": "Runs SQL", "format": {
            "type": "grammar", "syntax": "lark", "definition": "start: /SELECT .+/"}},
        {"type": "namespace", "name": "crm", "description": "CRM tools",
         "tools": [{"type": "function", "name": "find", "description": "Finds a contact"}]}]},
        [(U, "input", at("input"), "x"),
         (D, "tool_name", at("tools", 0, "name"), "sql"),
         (D, "tool_description", at("tools", 0, "description"), "Runs SQL"),
         (D, "tool_grammar", at("tools", 0, "format", "definition"), "start: /SELECT .+/"),
         (D, "tool_name", at("tools", 1, "name"), "crm"),
         (D, "tool_description", at("tools", 1, "description"), "CRM tools"),
         (D, "tool_name", at("tools", 1, "tools", 0, "name"), "find"),
         (D, "tool_description", at("tools", 1, "tools", 0, "description"), "Finds a contact")]),
    RequestSample("tool search and mcp tools", {"input": "x", "tools": [
        {"type": "tool_search", "description": "Searches tools",
         "parameters": {"type": "object"}},
        {"type": "mcp", "server_label": "wiki", "server_description": "Wiki of repos",
         "server_url": "https://mcp.example.com/mcp"}]},
        [(U, "input", at("input"), "x"),
         (D, "tool_description", at("tools", 0, "description"), "Searches tools"),
         (D, "tool_schema", at("tools", 0, "parameters", KEY), "type\nobject"),
         (D, "tool_name", at("tools", 1, "server_label"), "wiki"),
         (D, "tool_description", at("tools", 1, "server_description"), "Wiki of repos")]),
    RequestSample("shell tool skills", {"input": "x", "tools": [
        {"type": "shell", "environment": {"type": "container_auto", "skills": [
            {"type": "inline", "name": "pdf", "description": "Reads PDFs", "source": {
                "type": "base64", "media_type": "application/zip", "data": "UEsDB"}}]}},
        {"type": "shell", "environment": {"type": "local", "skills": [
            {"name": "lint", "description": "Lints code", "path": "/skills/lint"}]}}]},
        [(U, "input", at("input"), "x"),
         (D, "tool_name", at("tools", 0, "environment", "skills", 0, "name"), "pdf"),
         (D, "tool_description", at("tools", 0, "environment", "skills", 0, "description"),
          "Reads PDFs"),
         (D, "tool_name", at("tools", 1, "environment", "skills", 0, "name"), "lint"),
         (D, "tool_description", at("tools", 1, "environment", "skills", 0, "description"),
          "Lints code")], unreadable=1),
    RequestSample("built-in tools", {"input": "x", "tools": BUILT_IN_TOOLS},
                  [(U, "input", at("input"), "x")]),
    RequestSample("json schema format", {"input": "x", "text": {"format": JSON_SCHEMA_FORMAT}},
                  [(U, "input", at("input"), "x"),
                   (D, "text_format_name", at("text", "format", "name"), "answer"),
                   (D, "text_format_description", at("text", "format", "description"),
                    "An answer"),
                   (D, "text_format_schema", at("text", "format", "schema", KEY),
                    "type\nobject")]),
    RequestSample("plain formats", {"input": "x", "text": {"format": {"type": "json_object"},
                                                           "verbosity": "low"}},
                  [(U, "input", at("input"), "x")]),
    RequestSample("stored prompt", {"prompt": {"id": "pmpt_1", "version": "2", "variables": {
        "city": "Paris", "note": {"type": "input_text", "text": "be brief"},
        "photo": {"type": "input_image", "detail": "auto",
                  "image_url": "https://example.com/p.png"}}}},
        [(U, "prompt_variable", at("prompt", "variables", "city"), "Paris"),
         (U, "prompt_variable", at("prompt", "variables", "note", "text"), "be brief")],
        unreadable=2),
    RequestSample("extensions", {
        "input": [{"role": "user", "content": "hi", "name": "Bob", "status": "completed"},
                  {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}",
                   "vendor_note": {"why": ["because"]}}],
        "chat_template": "{{ system }}", "metadata": {"note": "not read"}},
        [(U, "message_text", at("input", 0, "content"), "hi"),
         (U, "extension", at("input", 0, "name"), "Bob"),
         (A, "function_call_name", at("input", 1, "name"), "f"),
         (A, "function_call_arguments", at("input", 1, "arguments"), "{}"),
         ("extension", "extension", at("input", 1, "vendor_note", "why", 0), "because"),
         ("extension", "extension", at("chat_template"), "{{ system }}")], sdk=False),
    RequestSample("previous response", {"input": "x", "previous_response_id": "resp_1"},
                  [(U, "input", at("input"), "x")], unreadable=1),
    RequestSample("conversation id", {"input": "x", "conversation": "conv_1"},
                  [(U, "input", at("input"), "x")], unreadable=1),
    RequestSample("conversation object", {"input": "x", "conversation": {"id": "conv_1"}},
                  [(U, "input", at("input"), "x")], unreadable=1),
]


def parse(body: dict[str, Any], **options: bool) -> ParsedRequest:
    return DIALECT.parse_request(orjson.dumps(body), **options)


def plain(value: Any) -> Any:
    """A validated SDK value as plain JSON (pydantic validates iterables lazily)."""
    if isinstance(value, dict):
        return {key: plain(element) for key, element in value.items()}
    if value is None or isinstance(value, str | int | float):
        return value
    return [plain(element) for element in value]


def found(request: ParsedRequest) -> list[Text]:
    return [(t.role, t.kind, t.path, t.text) for t in request.texts]


def get(body: Any, path: Iterable[str | int]) -> Any:
    for key in path:
        body = body[key]
    return body


@pytest.mark.parametrize("sample", [s for s in REQUEST_SAMPLES if s.sdk], ids=lambda s: s.name)
def test_request_samples_are_valid_sdk_params(sample: RequestSample) -> None:
    assert plain(CREATE_PARAMS.validate_python(sample.body)) == sample.body


@pytest.mark.parametrize("sample", REQUEST_SAMPLES, ids=lambda s: s.name)
def test_request_texts(sample: RequestSample) -> None:
    request = parse(sample.body)
    assert found(request) == sample.texts
    assert (request.unreadable, request.unknown) == (sample.unreadable, 0)
    assert request.model == MODEL and request.stream is False
    assert request.body == sample.body


@pytest.mark.parametrize("sample", [s for s in REQUEST_SAMPLES if s.texts], ids=lambda s: s.name)
def test_replace_text_rewrites_the_place_it_came_from(sample: RequestSample) -> None:
    for index in range(len(sample.texts)):
        request = parse(sample.body)
        text = request.texts[index]
        if text.path[-1] == KEY:  # a definition scored whole: never rewritten
            assert request.replace_text(text, "[redacted]") is False
            assert request.body == sample.body
            continue
        assert request.replace_text(text, "[redacted]") is True
        assert get(request.body, text.path) == "[redacted]"
        again = parse(request.body)  # still a valid request, the text now redacted
        assert TextField(text.role, text.kind, text.path, "[redacted]") in again.texts
        assert len(again.texts) == len(sample.texts)


def test_user_text_and_conversation_follow_the_model_reading_order() -> None:
    request = parse({"instructions": "Be terse.", "prompt": {"id": "p", "variables": {
        "v": "var"}}, "input": [{"role": "user", "content": "first"},
                                {"role": "assistant", "content": "reply"},
                                {"role": "user", "content": "last"}]})
    assert request.last_user_text() == "last"
    assert [t["role"] for t in request.conversation()] == [
        "developer", "user", "user", "assistant", "user"]


def test_stream_flag() -> None:
    assert parse({"input": "x", "stream": True}).stream is True
    assert parse({"input": "x", "stream": None}).stream is False


UNKNOWN_SHAPES = [
    ("item type", items({"role": "user", "content": "ok"}, {"type": "hologram"}), "input[1]"),
    ("item reference", items({"type": "item_reference", "id": "msg_1"}), "input[0]"),
    ("message role", items({"role": "critic", "content": "hm"}), "input[0].role"),
    ("message part", items({"role": "user", "content": [
        {"type": "input_text", "text": "ok"}, {"type": "input_video", "url": "v"}]}),
     "input[0].content[1]"),
    ("tool output part", items({"type": "function_call_output", "call_id": "c",
                                "output": [{"type": "input_video"}]}), "input[0].output[0]"),
    ("tool type", {"input": "ok", "tools": [{"type": "teleport"}]}, "tools[0]"),
    ("nested tool type", {"input": "ok", "tools": [
        {"type": "namespace", "name": "n", "description": "d", "tools": [{"type": "x"}]}]},
     "tools[0].tools[0]"),
    ("text format type", {"input": "ok", "text": {"format": {"type": "yaml"}}}, "text.format"),
    ("prompt variable part", {"prompt": {"id": "p", "variables": {"v": {"type": "input_video"}}}},
     "prompt.variables.v"),
]


@pytest.mark.parametrize(("name", "fields", "param"), UNKNOWN_SHAPES,
                         ids=[row[0] for row in UNKNOWN_SHAPES])
def test_unknown_shapes_are_rejected(name: str, fields: dict[str, Any], param: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse(fields)
    assert caught.value.param == param and caught.value.status == 400
    assert param in caught.value.message


@pytest.mark.parametrize(("name", "fields", "param"), UNKNOWN_SHAPES,
                         ids=[row[0] for row in UNKNOWN_SHAPES])
def test_unknown_shapes_are_counted_when_forwarded(name: str, fields: dict[str, Any],
                                                   param: str) -> None:
    request = parse(fields, forward_unknown=True)
    assert request.unknown == 1
    assert request.body == fields
    texts = [t.text for t in request.texts]
    assert "ok" in texts or name.startswith(("item reference", "message role", "prompt",
                                             "tool output"))


BAD_BODIES = [
    ("not json", b'{"input": ', None, "not valid JSON"),
    ("not utf-8", b'{"input": "\xff"}', None, "not valid UTF-8"),
    ("not an object", b'["hi"]', None, "JSON object"),
    ("no input nor prompt", b'{"model": "m"}', "input", "required"),
    ("input number", b'{"input": 5}', "input", "a string or an array"),
    ("input object", b'{"input": {"role": "user"}}', "input", "a string or an array"),
    ("item string", b'{"input": ["hi"]}', "input[0]", "object"),
    ("item without type or role", b'{"input": [{"content": "hi"}]}', "input[0]", "type"),
    ("item type not a string", b'{"input": [{"type": 3}]}', "input[0]", "type"),
    ("role not a string", b'{"input": [{"role": 1, "content": "x"}]}', "input[0].role", "role"),
    ("content number", b'{"input": [{"role": "user", "content": 5}]}', "input[0].content",
     "content parts"),
    ("content nested list", b'{"input": [{"role": "user", "content": [["x"]]}]}',
     "input[0].content[0]", "content part"),
    ("part text number", b'{"input": [{"role": "user", "content": [{"type": "input_text", '
     b'"text": 5}]}]}', "input[0].content[0].text", "a string"),
    ("part without text", b'{"input": [{"role": "user", "content": [{"type": "input_text"}]}]}',
     "input[0].content[0].text", "a string"),
    ("arguments object", b'{"input": [{"type": "function_call", "name": "f", "call_id": "c", '
     b'"arguments": {"a": 1}}]}', "input[0].arguments", "a string"),
    ("queries not a list", b'{"input": [{"type": "file_search_call", "queries": "q"}]}',
     "input[0].queries", "an array"),
    ("query list of lists", b'{"input": [{"type": "file_search_call", "queries": [["q"]]}]}',
     "input[0].queries[0]", "a string"),
    ("summary not a list", b'{"input": [{"type": "reasoning", "summary": {"text": "x"}}]}',
     "input[0].summary", "an array"),
    ("action not an object", b'{"input": [{"type": "web_search_call", "action": "x"}]}',
     "input[0].action", "an object"),
    ("instructions number", b'{"input": "x", "instructions": 5}', "instructions", "a string"),
    ("tools not a list", b'{"input": "x", "tools": {"type": "function"}}', "tools", "array"),
    ("tool not an object", b'{"input": "x", "tools": ["f"]}', "tools[0]", "object"),
    ("text not an object", b'{"input": "x", "text": "json"}', "text", "an object"),
    ("prompt not an object", b'{"prompt": "pmpt_1"}', "prompt", "an object"),
    ("variables not an object", b'{"prompt": {"id": "p", "variables": ["x"]}}',
     "prompt.variables", "an object"),
    ("variable number", b'{"prompt": {"id": "p", "variables": {"v": 5}}}', "prompt.variables.v",
     "content part"),
    ("stream string", b'{"input": "x", "stream": "true"}', "stream", "boolean"),
]


@pytest.mark.parametrize(("name", "raw", "param", "message"), BAD_BODIES,
                         ids=[row[0] for row in BAD_BODIES])
def test_bad_bodies(name: str, raw: bytes, param: str | None, message: str) -> None:
    for forward_unknown in (False, True):  # a misshapen body is never forwarded
        with pytest.raises(BadRequest) as caught:
            DIALECT.parse_request(raw, forward_unknown=forward_unknown)
        assert caught.value.param == param
        assert message in caught.value.message


# Answers ---------------------------------------------------------------------------------

def response_body(output: list[dict[str, Any]], status: str = "completed",
                  **fields: Any) -> dict[str, Any]:
    return {"id": "resp_abc", "object": "response", "created_at": 1_741_476_542,
            "status": status, "error": None, "incomplete_details": None,
            "instructions": None, "metadata": {}, "model": "gpt-4.1-2025-04-14",
            "output": output, "parallel_tool_calls": True, "temperature": 1.0,
            "tool_choice": "auto", "tools": [], "top_p": 1.0,
            "usage": {"input_tokens": 36, "output_tokens": 87, "total_tokens": 123,
                      "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                      "output_tokens_details": {"reasoning_tokens": 0}}, **fields}


def message(*content: dict[str, Any], item_id: str = "msg_1") -> dict[str, Any]:
    return {"id": item_id, "type": "message", "role": "assistant", "status": "completed",
            "content": list(content)}


def text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def option(token: str, logprob: float) -> dict[str, Any]:
    return {"token": token, "logprob": logprob, "bytes": list(token.encode())}


ANSWER_SAMPLES: list[tuple[str, list[dict[str, Any]], list[tuple[str, str]], bool]] = [
    ("message", [message(text_part("It is sunny."), {"type": "refusal", "refusal": "No."})],
     [("output_text", "It is sunny."), ("refusal", "No.")], True),
    ("log-probabilities", [message({**text_part("Hi"), "logprobs": [  # top_logprobs: 2
        {**option("Hi", -0.1), "top_logprobs": [option("Hi", -0.1), option("Yo", -2.4)]}]})],
     [("output_text", "Hi"), ("logprobs", "Hi"), ("logprobs", "Yo")], True),
    ("function call", [{"type": "function_call", "id": "fc_1", "call_id": "call_1",
                        "name": "get_weather", "arguments": '{"city":"Paris"}',
                        "status": "completed"}],
     [("function_call_name", "get_weather"), ("function_call_arguments", '{"city":"Paris"}')],
     True),
    ("function call output", [{"type": "function_call_output", "id": "fco_1",
                               "call_id": "call_1", "output": "18 degrees",
                               "status": "completed"}],
     [("function_call_output", "18 degrees")], True),
    ("custom tool call", [
        {"type": "custom_tool_call", "id": "ctc_1", "call_id": "call_2", "name": "run_sql",
         "input": "SELECT 1"},
        {"type": "custom_tool_call_output", "id": "ctco_1", "call_id": "call_2",
         "output": [{"type": "input_text", "text": "1 row"}], "status": "completed"}],
     [("custom_tool_call_name", "run_sql"), ("custom_tool_call_input", "SELECT 1"),
      ("custom_tool_call_output", "1 row")], True),
    ("reasoning", [{"type": "reasoning", "id": "rs_1", "encrypted_content": "gAAAAB",
                    "summary": [{"type": "summary_text", "text": "Looked it up."}],
                    "content": [{"type": "reasoning_text", "text": "User asks weather."}]}],
     [("reasoning_summary", "Looked it up."), ("reasoning_content", "User asks weather.")],
     True),
    ("search calls", [
        {"type": "file_search_call", "id": "fs_1", "status": "completed", "queries": ["refunds"],
         "results": [{"file_id": "file-1", "text": "Within 30 days."}]},
        {"type": "web_search_call", "id": "ws_1", "status": "completed",
         "action": {"type": "search", "query": "paris weather"}}],
     [("file_search_query", "refunds"), ("file_search_result", "Within 30 days."),
      ("web_search_query", "paris weather")], True),
    ("computer call", [
        {"type": "computer_call", "id": "cu_1", "call_id": "call_3", "status": "completed",
         "pending_safety_checks": [], "action": {"type": "type", "text": "hello"}},
        {"type": "computer_call_output", "id": "cuo_1", "call_id": "call_3",
         "status": "completed", "output": {"type": "computer_screenshot", "file_id": "f"}}],
     [("computer_action_text", "hello")], True),
    ("tool search", [
        {"type": "tool_search_call", "id": "ts_1", "execution": "server", "status": "completed",
         "arguments": {"query": "calendar"}},
        {"type": "tool_search_output", "id": "tso_1", "execution": "server",
         "status": "completed", "tools": [{"type": "custom", "name": "cal",
                                           "description": "Calendar", "format": {
                                               "type": "grammar", "syntax": "regex",
                                               "definition": "[a-z]+"}}]},
        {"type": "additional_tools", "id": "at_1", "role": "developer", "tools": [
            {"type": "function", "name": "f", "parameters": {"type": "object"},
             "strict": True}]}],
     [("tool_search_arguments", "query\ncalendar"), ("tool_name", "cal"),
      ("tool_description", "Calendar"), ("tool_grammar", "[a-z]+"), ("tool_name", "f"),
      ("tool_schema", "type\nobject")], True),
    ("image and code", [
        {"type": "image_generation_call", "id": "ig_1", "status": "completed",
         "result": "iVBORw0", "revised_prompt": "A cat"},
        {"type": "code_interpreter_call", "id": "ci_1", "container_id": "cntr_1",
         "status": "completed", "code": "print(2)", "outputs": [{"type": "logs", "logs": "2"}]}],
     [("image_generation_prompt", "A cat"), ("image", "iVBORw0"),  # the pipeline reads it
      ("code_interpreter_code", "print(2)"), ("code_interpreter_logs", "2")], True),
    ("shells and patches", [
        {"type": "local_shell_call", "id": "ls_1", "call_id": "c4", "status": "completed",
         "action": {"type": "exec", "command": ["ls"], "env": {}}},
        {"type": "local_shell_call_output", "id": "lso_1", "output": "a.py"},
        {"type": "shell_call", "id": "sh_1", "call_id": "c5", "status": "completed",
         "action": {"commands": ["cat a.py"]}},
        {"type": "shell_call_output", "id": "sho_1", "call_id": "c5", "status": "completed",
         "output": [{"outcome": {"type": "timeout"}, "stdout": "x = 1", "stderr": ""}]},
        {"type": "apply_patch_call", "id": "ap_1", "call_id": "c6", "status": "completed",
         "operation": {"type": "create_file", "path": "b.py", "diff": "+y = 2"}},
        {"type": "apply_patch_call_output", "id": "apo_1", "call_id": "c6",
         "status": "completed", "output": "created"}],
     [("shell_command", "ls"), ("shell_output", "a.py"), ("shell_command", "cat a.py"),
      ("shell_output", "x = 1"), ("apply_patch_diff", "+y = 2"),
      ("apply_patch_output", "created")], True),
    ("mcp", [
        {"type": "mcp_list_tools", "id": "mcpl_1", "server_label": "wiki", "error": "slow",
         "tools": [{"name": "ask", "description": "Ask", "input_schema": {}}]},
        {"type": "mcp_approval_request", "id": "mcpr_1", "server_label": "wiki",
         "name": "ask", "arguments": '{"q":"x"}'},
        {"type": "mcp_approval_response", "id": "mcpa_1", "approval_request_id": "mcpr_1",
         "approve": True, "reason": "Fine"},
        {"type": "mcp_call", "id": "mcp_1", "server_label": "wiki", "name": "ask",
         "arguments": "{}", "output": "Answer"}],
     [("tool_name", "ask"), ("tool_description", "Ask"),
      ("mcp_list_tools_error", "slow"), ("mcp_call_name", "ask"),
      ("mcp_call_arguments", '{"q":"x"}'), ("mcp_approval_reason", "Fine"),
      ("mcp_call_name", "ask"), ("mcp_call_arguments", "{}"), ("mcp_call_output", "Answer")],
     True),
    ("program", [{"type": "program", "id": "p_1", "call_id": "c7", "code": "y()",
                  "fingerprint": "fp"},
                 {"type": "program_output", "id": "po_1", "call_id": "c7", "result": "ok",
                  "status": "completed"},
                 {"type": "compaction", "id": "cmp_1", "encrypted_content": "gAAAAB"}],
     [("program_code", "y()"), ("program_output", "ok")], True),
    # Shapes outside the output union (conversation items, future types): still scored.
    ("odd shapes", [
        {"type": "message", "role": "assistant", "content": "plain", "note": "extra"},
        {"type": "message", "role": "assistant", "content": [
            {"type": "input_text", "text": "a"}, {"type": "summary_text", "text": "b"},
            {"type": "reasoning_text", "text": "c"}]},
        {"type": "configuration_update", "id": "cu", "text": {"format": JSON_SCHEMA_FORMAT}},
        {"type": "hologram", "caption": "surprise"},
        {"type": "function_call", "name": "f", "arguments": {"a": "x"}}],
     [("message_text", "plain"), ("extension", "extra"), ("input_text", "a"), ("summary_text", "b"),
      ("reasoning_text", "c"), ("text_format_name", "answer"),
      ("text_format_description", "An answer"), ("text_format_schema", "type\nobject"),
      ("extension", "hologram"), ("extension", "surprise"), ("function_call_name", "f"),
      ("extension", "x")], False),
]


@pytest.mark.parametrize(("name", "output", "texts", "sdk"), ANSWER_SAMPLES,
                         ids=[row[0] for row in ANSWER_SAMPLES])
def test_answer_texts(name: str, output: list[dict[str, Any]], texts: list[tuple[str, str]],
                      sdk: bool) -> None:
    body = response_body(output)
    if sdk:
        Response.model_validate(body)
    assert DIALECT.answer_texts(body) == [AnswerText(0, kind, text) for kind, text in texts]


@pytest.mark.parametrize("body", [{}, {"output": None}, {"output": "x"}, {"output": [3]}])
def test_answer_texts_never_raise(body: dict[str, Any]) -> None:
    texts = DIALECT.answer_texts(body)  # an output that is no list is read, as a vendor's
    assert texts == ([AnswerText(0, "extension", "x")] if body.get("output") == "x" else [])


def test_a_responses_own_strings_are_read_unless_the_items_show_them() -> None:
    """An error, an ``output_text`` the items do not hold and a vendor's field are read;
    the request's echo (instructions, metadata) and an ``output_text`` that repeats the
    items are not."""
    part = {"type": "output_text", "text": "It is sunny.", "annotations": []}
    body = response_body([message(part)], "failed", error={"code": "e", "message": "boom"},
                         instructions="be brief", metadata={"k": "v"}, citations=["c"],
                         output_text="It is sunny.")
    assert [t.text for t in DIALECT.answer_texts(body)] == ["It is sunny.", "e", "boom", "c"]
    body["output_text"] = "something else"
    assert "something else" in [t.text for t in DIALECT.answer_texts(body)]


@pytest.mark.parametrize("with_output_text", [False, True])
def test_block_answer(with_output_text: bool) -> None:
    body = response_body([message(text_part("Bad words.")), {
        "type": "function_call", "id": "fc_1", "call_id": "c", "name": "f",
        "arguments": "{}"}], **({"output_text": "Bad words."} if with_output_text else {}))
    usage = body["usage"]
    DIALECT.block_answer(body, {0}, REFUSAL, SAFETY)
    parsed = Response.model_validate(body)
    assert parsed.status == "incomplete"
    assert parsed.incomplete_details is not None
    assert parsed.incomplete_details.reason == "content_filter"
    assert parsed.output_text == REFUSAL
    assert body["output"] == [message(text_part(REFUSAL), item_id="msg_abc")]
    assert body["safety"] == SAFETY and body["usage"] == usage and body["id"] == "resp_abc"
    assert ("output_text" in body) is with_output_text
    assert body.get("output_text", REFUSAL) == REFUSAL
    assert DIALECT.answer_texts(body) == [AnswerText(0, "output_text", REFUSAL)]


def test_input_blocked_as_error() -> None:
    request = parse({"input": "something bad"})
    status, body = DIALECT.input_blocked(request, "req1", SAFETY, REFUSAL, "error")
    assert status == 400 and isinstance(body, dict)
    error = body["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == "content_filter"
    assert error["param"] == "input" and error["safety"] == SAFETY
    # LiteLLM's ContentPolicyViolationError mapping looks for this phrase.
    assert "request was rejected as a result of the safety system" in error["message"].lower()


def test_input_blocked_as_refusal() -> None:
    request = parse({"model": MODEL, "input": "something bad"})
    status, body = DIALECT.input_blocked(request, "req1", SAFETY, REFUSAL, "refusal")
    assert status == 200 and isinstance(body, dict)
    parsed = Response.model_validate(body)
    assert (parsed.id, parsed.object, parsed.model) == ("resp_req1", "response", MODEL)
    assert parsed.status == "incomplete" and parsed.output_text == REFUSAL
    assert parsed.incomplete_details is not None
    assert parsed.incomplete_details.reason == "content_filter"
    assert parsed.usage is not None and parsed.usage.total_tokens == 0
    assert body["safety"] == SAFETY


def decode_events(raw: bytes) -> list[tuple[str | None, dict[str, Any]]]:
    decoder = SSEDecoder()
    events = decoder.feed(raw) + decoder.close()
    return [(event.event, orjson.loads(event.data)) for event in events]


def sdk_accepts(events: list[dict[str, Any]]) -> ResponseStreamState[Any]:
    """Feeds events to the SDK's own stream accumulator, which checks their order."""
    state: ResponseStreamState[Any] = ResponseStreamState(input_tools=omit, text_format=omit)
    for data in events:
        state.handle_event(STREAM_EVENT.validate_python(data))
    return state


REFUSAL_EVENTS = ["response.created", "response.output_item.added",
                  "response.content_part.added", "response.output_text.delta",
                  "response.output_text.done", "response.content_part.done",
                  "response.output_item.done", "response.incomplete"]


def test_input_blocked_as_a_refusal_stream() -> None:
    request = parse({"model": MODEL, "input": "something bad", "stream": True})
    status, raw = DIALECT.input_blocked(request, "req1", SAFETY, REFUSAL, "refusal")
    assert status == 200 and isinstance(raw, bytes)
    events = decode_events(raw)
    assert [name for name, _ in events] == REFUSAL_EVENTS
    assert [data["type"] for _, data in events] == REFUSAL_EVENTS
    assert [data["sequence_number"] for _, data in events] == list(range(8))
    datas = [data for _, data in events]
    sdk_accepts(datas)
    assert datas[0]["response"]["id"] == datas[-1]["response"]["id"] == "resp_req1"
    assert datas[3]["delta"] == datas[4]["text"] == REFUSAL
    assert datas[5]["part"]["text"] == REFUSAL
    assert datas[6]["item"] == message(text_part(REFUSAL), item_id="msg_req1")
    final = Response.model_validate(datas[-1]["response"])
    assert final.status == "incomplete" and final.output_text == REFUSAL
    assert final.incomplete_details is not None
    assert final.incomplete_details.reason == "content_filter"
    assert datas[-1]["response"]["safety"] == SAFETY


def test_error_body() -> None:
    error = UpstreamTimeout("the upstream did not answer in time", code="upstream_timeout")
    assert DIALECT.error_body(error) == {"error": {
        "message": "the upstream did not answer in time", "type": "upstream_error",
        "param": None, "code": "upstream_timeout"}}


# Streams ---------------------------------------------------------------------------------

def numbered(events: list[tuple[dict[str, Any], list[str]]]
             ) -> list[tuple[dict[str, Any], list[str]]]:
    return [({**event, "sequence_number": number}, texts)
            for number, (event, texts) in enumerate(events)]


WHERE = {"item_id": "msg_1", "output_index": 2, "content_index": 0}
CALL = {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "get_weather"}
REASONING = {"type": "reasoning", "id": "rs_1"}
SUMMARY = {"item_id": "rs_1", "output_index": 0, "summary_index": 0}
FINAL_OUTPUT: list[dict[str, Any]] = [
    {**REASONING, "summary": [{"type": "summary_text", "text": "Checking the forecast."}]},
    {"type": "web_search_call", "id": "ws_1", "status": "completed",
     "action": {"type": "search", "query": "paris weather"}},
    message(text_part("It is sunny.")),
    {**CALL, "arguments": '{"city":"Paris"}', "status": "completed"}]

# A realistic stream: each event with the texts it adds to the answer.
STREAM = numbered([
    ({"type": "response.created", "response": response_body([], "in_progress")}, []),
    ({"type": "response.in_progress", "response": response_body([], "in_progress")}, []),
    ({"type": "response.output_item.added", "output_index": 0,
      "item": {**REASONING, "summary": []}}, []),
    ({"type": "response.reasoning_summary_part.added", **SUMMARY,
      "part": {"type": "summary_text", "text": ""}}, []),
    ({"type": "response.reasoning_summary_text.delta", **SUMMARY, "delta": "Checking "},
     ["Checking "]),
    ({"type": "response.reasoning_summary_text.delta", **SUMMARY, "delta": "the forecast."},
     ["the forecast."]),
    ({"type": "response.reasoning_summary_text.done", **SUMMARY,
      "text": "Checking the forecast."}, []),
    ({"type": "response.reasoning_summary_part.done", **SUMMARY,
      "part": {"type": "summary_text", "text": "Checking the forecast."}}, []),
    ({"type": "response.output_item.done", "output_index": 0, "item": FINAL_OUTPUT[0]}, []),
    ({"type": "response.output_item.added", "output_index": 1, "item": {
        "type": "web_search_call", "id": "ws_1", "status": "in_progress",
        "action": {"type": "search"}}}, []),
    ({"type": "response.web_search_call.searching", "item_id": "ws_1", "output_index": 1}, []),
    ({"type": "response.output_item.done", "output_index": 1, "item": FINAL_OUTPUT[1]},
     ["paris weather"]),
    ({"type": "response.output_item.added", "output_index": 2, "item": {
        **message(), "status": "in_progress"}}, []),
    ({"type": "response.content_part.added", **WHERE, "part": text_part("")}, []),
    ({"type": "response.output_text.delta", **WHERE, "delta": "It is ", "logprobs": []},
     ["It is "]),
    ({"type": "response.output_text.delta", **WHERE, "delta": "sunny.", "logprobs": []},
     ["sunny."]),
    ({"type": "response.output_text.done", **WHERE, "text": "It is sunny.", "logprobs": []},
     []),
    ({"type": "response.content_part.done", **WHERE, "part": text_part("It is sunny.")}, []),
    ({"type": "response.output_item.done", "output_index": 2, "item": FINAL_OUTPUT[2]}, []),
    ({"type": "response.output_item.added", "output_index": 3,
      "item": {**CALL, "arguments": "", "status": "in_progress"}}, ["get_weather"]),
    ({"type": "response.function_call_arguments.delta", "item_id": "fc_1", "output_index": 3,
      "delta": '{"city":'}, ['{"city":']),
    ({"type": "response.function_call_arguments.delta", "item_id": "fc_1", "output_index": 3,
      "delta": '"Paris"}'}, ['"Paris"}']),
    ({"type": "response.function_call_arguments.done", "item_id": "fc_1", "output_index": 3,
      "name": "get_weather", "arguments": '{"city":"Paris"}'}, []),
    ({"type": "response.output_item.done", "output_index": 3, "item": FINAL_OUTPUT[3]}, []),
    ({"type": "response.completed", "response": response_body(FINAL_OUTPUT)}, []),
])

# Every other event type whose text is scored, one event each.
DELTA_EVENTS = numbered([
    ({"type": "response.refusal.delta", **WHERE, "delta": "I can't"}, ["I can't"]),
    ({"type": "response.content_part.added", **WHERE,
      "part": {"type": "refusal", "refusal": "No"}}, ["No"]),
    ({"type": "response.reasoning_summary_part.added", **SUMMARY,
      "part": {"type": "summary_text", "text": "Starting"}}, ["Starting"]),
    ({"type": "response.custom_tool_call_input.delta", "item_id": "ctc_1", "output_index": 0,
      "delta": "SELECT"}, ["SELECT"]),
    ({"type": "response.reasoning_text.delta", "item_id": "rs_1", "output_index": 0,
      "content_index": 0, "delta": "Hmm"}, ["Hmm"]),
    ({"type": "response.audio.transcript.delta", "delta": "Hello there"}, ["Hello there"]),
    ({"type": "response.code_interpreter_call_code.delta", "item_id": "ci_1",
      "output_index": 0, "delta": "print("}, ["print("]),
    ({"type": "response.mcp_call_arguments.delta", "item_id": "mcp_1", "output_index": 0,
      "delta": '{"q"'}, ['{"q"']),
    ({"type": "response.shell_call_command.added", "output_index": 0, "command_index": 0,
      "command": "ls"}, ["ls"]),
    ({"type": "response.shell_call_command.delta", "output_index": 0, "command_index": 0,
      "delta": " -la"}, [" -la"]),
    ({"type": "response.shell_call_output_content.delta", "item_id": "sho_1",
      "output_index": 0, "command_index": 0, "delta": {"stdout": "a.py", "stderr": "warn"}},
     ["a.py", "warn"]),
])


def sample_ids(events: list[tuple[dict[str, Any], list[str]]]) -> list[str]:
    return [f"{number}-{event['type']}" for number, (event, _) in enumerate(events)]


@pytest.mark.parametrize(("event", "texts"), STREAM + DELTA_EVENTS,
                         ids=sample_ids(STREAM + DELTA_EVENTS))
def test_stream_samples_are_sdk_events(event: dict[str, Any], texts: list[str]) -> None:
    parsed = STREAM_EVENT.validate_python(event)  # raises on a wrong wire shape
    assert parsed.type == event["type"]


def sse(event: dict[str, Any]) -> SSEEvent:
    return SSEEvent(orjson.dumps(event).decode(), event=event["type"])


def test_stream_texts_in_order() -> None:
    codec = DIALECT.stream(parse({"input": "x", "stream": True}), "req1")
    for event, texts in STREAM:
        view = codec.read(sse(event))
        assert view.texts == [(0, text) for text in texts], event["type"]
        assert view.ends is (event["type"] == "response.completed")
        assert view.finished == ({0} if view.ends else set())
        assert view.model == event.get("response", {}).get("model")


@pytest.mark.parametrize(("event", "texts"), DELTA_EVENTS, ids=sample_ids(DELTA_EVENTS))
def test_delta_events(event: dict[str, Any], texts: list[str]) -> None:
    view = DIALECT.stream(parse({"input": "x"}), "req1").read(sse(event))
    assert view.texts == [(0, text) for text in texts] and not view.ends


def test_item_done_adds_what_added_did_not_show() -> None:
    codec = DIALECT.stream(parse({"input": "x"}), "req1")
    added = {"type": "response.output_item.added", "output_index": 0, "sequence_number": 0,
             "item": {**CALL, "arguments": ""}}
    done = {**added, "type": "response.output_item.done", "sequence_number": 1,
            "item": {**CALL, "name": "other_name", "arguments": "{}"}}
    delta = {"type": "response.function_call_arguments.delta", "item_id": "fc_1",
             "output_index": 0, "sequence_number": 1, "delta": "{}"}
    assert codec.read(sse(added)).texts == [(0, "get_weather")]
    assert codec.read(sse(delta)).texts == [(0, "{}")]
    assert codec.read(sse(done)).texts == [(0, "other_name")]  # arguments came as deltas


def message_done(text: str) -> dict[str, Any]:
    return {"type": "response.output_item.done", "output_index": 0,
            "item": {**message(), "content": [text_part(text)]}}


@pytest.mark.parametrize("mode", ["sent whole only", "whole differs from deltas"])
def test_a_whole_text_the_deltas_did_not_carry_is_read(mode: str) -> None:
    """The ``.done`` events and the terminal response repeat what the deltas streamed; a
    server that sends a text only whole, or a whole text that is not what its deltas
    said, has that text read where it first appears, once."""
    codec = DIALECT.stream(parse({"input": "x"}), "req1")
    final = "Hello there, and more"
    events = [] if mode == "sent whole only" else [
        {"type": "response.output_text.delta", **WHERE, "delta": "Hello ", "logprobs": []},
        {"type": "response.output_text.delta", **WHERE, "delta": "there", "logprobs": []}]
    events += [
        {"type": "response.output_text.done", **WHERE, "text": final, "logprobs": []},
        {"type": "response.content_part.done", **WHERE, "part": text_part(final)},
        message_done(final),
        {"type": "response.completed", "response": response_body(
            [{**message(), "content": [text_part(final)]}])}]
    texts = [codec.read(sse(event)).texts for event in events]
    deltas = [[(0, "Hello ")], [(0, "there")]] if events[0]["type"].endswith("delta") else []
    assert texts == [*deltas, [(0, final)], [], [], []]


def test_newer_delta_events_are_read_and_audio_bytes_are_not() -> None:
    codec = DIALECT.stream(parse({"input": "x"}), "req1")
    newer = {"type": "response.hologram_caption.delta", "item_id": "h_1", "output_index": 0,
             "delta": "surprise"}
    audio = {"type": "response.audio.delta", "delta": "UklGRiQAAABXQVZF"}
    assert codec.read(sse(newer)).texts == [(0, "surprise")]
    assert codec.read(sse(audio)).texts == []


def test_a_shell_output_done_is_read_when_its_deltas_said_otherwise() -> None:
    codec = DIALECT.stream(parse({"input": "x"}), "req1")
    where = {"item_id": "sho_1", "output_index": 0, "command_index": 0}
    delta = {"type": "response.shell_call_output_content.delta", **where,
             "delta": {"stdout": "a.py", "stderr": ""}}
    done = {"type": "response.shell_call_output_content.done", **where,
            "output": [{"stdout": "a.py", "stderr": ""}, {"stdout": "b.py", "stderr": ""}]}
    assert codec.read(sse(delta)).texts == [(0, "a.py")]
    assert codec.read(sse(done)).texts == [(0, "b.py")]


def test_whole_texts_that_repeat_the_deltas_add_nothing() -> None:
    codec = DIALECT.stream(parse({"input": "x"}), "req1")
    for event, texts in STREAM:
        assert codec.read(sse(event)).texts == [(0, text) for text in texts]


@pytest.mark.parametrize("kind", ["response.incomplete", "response.failed"])
def test_terminal_events_end_the_stream(kind: str) -> None:
    view = DIALECT.stream(parse({"input": "x"}), "r").read(sse(
        {"type": kind, "sequence_number": 3, "response": response_body([], "failed")}))
    assert view.ends and view.finished == {0} and not view.texts


def test_error_event_ends_the_stream_and_its_message_is_read() -> None:
    event = {"type": "error", "sequence_number": 3, "code": "server_error", "message": "x",
             "param": None}
    STREAM_EVENT.validate_python(event)
    view = DIALECT.stream(parse({"input": "x"}), "r").read(sse(event))
    assert view.ends and view.texts == [(0, "x")]  # it can quote the answer


GARBAGE = ["not json", "[DONE]", "[1, 2]", '"text"', "null", '{"type": 5}', '{"type": []}',
           '{"type": {"a": 1}, "delta": "x"}',
           '{"type": "response.output_text.delta", "delta": 7}',
           '{"type": "response.output_text.delta"}',
           '{"type": "response.output_item.done", "item": "x", "output_index": "a"}',
           '{"type": "response.output_item.added", "item": null}',
           '{"type": "response.content_part.added", "part": "x"}',
           '{"type": "response.shell_call_output_content.delta", "delta": {"stdout": 5}}',
           '{"type": "response.created", "response": "x", "sequence_number": "x"}',
           '{"output_index": [], "sequence_number": null}']


# Garbage whose strings are read: an event of no known type is read whole (but its ids), a
# field of another shape than its rule reads (an item or a part that is no object) too.
STRINGS_READ = {'{"type": {"a": 1}, "delta": "x"}': ["x"],
                '{"type": "response.created", "response": "x", "sequence_number": "x"}':
                    ["x", "x"],
                '{"type": "response.output_item.done", "item": "x", "output_index": "a"}':
                    ["x", "a"],  # text where a number belongs: read
                '{"type": "response.content_part.added", "part": "x"}': ["x"]}


@pytest.mark.parametrize("data", GARBAGE)
def test_read_never_raises(data: str) -> None:
    def codec() -> Any:
        return DIALECT.stream(parse({"input": "x"}), "r")
    relayed_as_is = not data.startswith("{") and data != "[DONE]"  # read as text
    texts = [data] if relayed_as_is else STRINGS_READ.get(data, [])
    assert codec().read(SSEEvent(data)) == codec().read(SSEEvent(data, event="message")) == \
        type(codec().read(SSEEvent("{}")))(texts=[(0, text) for text in texts])


def test_read_falls_back_on_the_sse_event_name() -> None:
    codec = DIALECT.stream(parse({"input": "x"}), "r")
    view = codec.read(SSEEvent('{"delta": "hi"}', event="response.output_text.delta"))
    assert view.texts == [(0, "hi")]


def read_all(events: list[tuple[dict[str, Any], list[str]]], request_id: str = "req1"
             ) -> Any:
    codec = DIALECT.stream(parse({"model": MODEL, "input": "x", "stream": True}), request_id)
    for event, _ in events:
        codec.read(sse(event))
    return codec


def test_cut_after_text_was_sent() -> None:
    sent = STREAM[:16]  # up to the second output_text delta
    events = decode_events(read_all(sent).cut([0], SAFETY, None))
    assert [name for name, _ in events] == ["response.incomplete"]
    data = events[0][1]
    assert data["sequence_number"] == 16
    response = Response.model_validate(data["response"])
    assert (response.id, response.model) == ("resp_abc", "gpt-4.1-2025-04-14")
    assert response.status == "incomplete" and response.output == []
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "content_filter"
    assert data["response"]["safety"] == SAFETY
    sdk_accepts([event for event, _ in sent] + [data])


@pytest.mark.parametrize("seen", [1, 9], ids=["after created", "after two items"])
def test_cut_with_refusal_text(seen: int) -> None:
    sent = STREAM[:seen]
    events = decode_events(read_all(sent).cut([0], SAFETY, REFUSAL))
    assert [name for name, _ in events] == REFUSAL_EVENTS
    datas = [data for _, data in events]
    assert [data["sequence_number"] for data in datas] == list(range(seen, seen + 8))
    index = 0 if seen == 1 else 1  # after the last output index seen
    assert {data.get("output_index", index) for data in datas} == {index}
    assert datas[3]["delta"] == REFUSAL
    final = Response.model_validate(datas[-1]["response"])
    assert final.id == "resp_abc" and final.output_text == REFUSAL
    assert final.status == "incomplete" and datas[-1]["response"]["safety"] == SAFETY
    sdk_accepts([event for event, _ in sent] + datas)


def test_cut_before_any_event() -> None:
    events = decode_events(read_all([], "req9").cut([0], SAFETY, REFUSAL))
    datas = [data for _, data in events]
    assert [data["sequence_number"] for data in datas] == list(range(8))
    assert datas[0]["response"]["id"] == datas[-1]["response"]["id"] == "resp_req9"
    assert datas[-1]["response"]["model"] == MODEL
    sdk_accepts(datas)


# Declarations ----------------------------------------------------------------------------

def table_kinds() -> set[str]:
    tables = (ITEM_SPOTS, TOOL_SPOTS, FORMAT_SPOTS)
    kinds = {spot.kind for table in tables for spots in table.values() for spot in spots}
    return (kinds - {""}) | set(PART_TEXT)


def test_declared_kinds_are_the_emitted_kinds() -> None:
    request_kinds = {t.kind for s in REQUEST_SAMPLES for t in parse(s.body).texts}
    answer_kinds = {t.kind for _, output, _, _ in ANSWER_SAMPLES
                    for t in DIALECT.answer_texts(response_body(output))}
    assert request_kinds | {FILE_KIND, IMAGE_KIND, AUDIO_KIND} == REQUEST_KINDS  # the pipeline's
    assert answer_kinds == ANSWER_KINDS
    # images: shape "image"; log-probabilities: read apart (logprobs.py)
    assert table_kinds() | {"extension", IMAGE_KIND, "logprobs"} == ANSWER_KINDS
    assert ANSWER_KINDS - {"logprobs"} | {"instructions", "input", "prompt_variable",
                                          FILE_KIND, IMAGE_KIND, AUDIO_KIND} == REQUEST_KINDS


def test_declared_stream_events_are_the_scored_ones() -> None:
    scored = {event["type"] for event, texts in STREAM + DELTA_EVENTS if texts}
    assert scored == STREAM_EVENTS
    assert union_literals(ResponseStreamEvent, "type") >= STREAM_EVENTS


def union_literals(union: Any, key: str) -> set[str]:
    """The values of ``key`` across the members of an SDK union (models or TypedDicts)."""
    values: set[str] = set()
    for member in typing.get_args(typing.get_args(union)[0] if typing.get_origin(
            union) is typing.Annotated else union):
        fields = getattr(member, "model_fields", None)
        hints = ({name: field.annotation for name, field in fields.items()} if fields
                 else typing.get_type_hints(member))
        if key in hints:
            annotation = hints[key]
            while typing.get_args(annotation) and typing.get_origin(
                    annotation) is not typing.Literal:
                annotation = typing.get_args(annotation)[0]
            values.update(typing.get_args(annotation))
    return values


def test_tables_know_every_sdk_type() -> None:
    """A type the SDK gains fails here before a client can send it unscored."""
    input_types = union_literals(ResponseInputItemParam, "type") - {"item_reference"}
    assert input_types <= set(ITEM_SPOTS)
    assert union_literals(ResponseOutputItem, "type") <= set(ITEM_SPOTS)
    assert union_literals(ToolParam, "type") <= set(TOOL_SPOTS)


def test_spots_are_well_formed() -> None:
    tables = (ITEM_SPOTS, TOOL_SPOTS, FORMAT_SPOTS)
    for spot in (spot for table in tables for spots in table.values() for spot in spots):
        assert isinstance(spot, Spot)
        assert spot.shape in {"text", "json", "content", "output", "tools", "format", "blob",
                              "part", "image"}
        assert bool(spot.kind) is (spot.shape not in {"tools", "format", "blob", "part",
                                                      "image"})


def test_dialect_names() -> None:
    assert isinstance(DIALECT, ResponsesDialect)
    assert (DIALECT.name, DIALECT.upstream_path) == ("responses", "responses")


def test_a_stream_scores_what_the_same_answer_scores_unstreamed() -> None:
    codec = read_all([])
    streamed = "".join(text for event, _ in STREAM for _, text in codec.read(sse(event)).texts)
    final = STREAM[-1][0]["response"]
    assert streamed == "".join(text.text for text in DIALECT.answer_texts(final))


def nested_tools(depth: int) -> dict[str, Any]:
    tool: dict[str, Any] = {"type": "function", "name": "leaf"}
    for _ in range(depth):
        tool = {"type": "namespace", "name": "n", "description": "d", "tools": [tool]}
    return tool


def test_nesting_past_the_limit_is_a_bad_request_not_a_crash() -> None:
    parse({"input": "x", "tools": [nested_tools(20)]})  # deep but fine
    with pytest.raises(BadRequest) as caught:
        parse({"input": "x", "tools": [nested_tools(100)]})
    assert "nested deeper than 64 levels" in caught.value.message  # the whole body's limit
    deep: Any = "x"
    for _ in range(200):
        deep = [deep]
    with pytest.raises(BadRequest):
        parse({"input": "x", "vendor": deep})


def test_answers_nested_past_the_limit_never_raise() -> None:
    deep: Any = "buried"
    for _ in range(100):
        deep = {"k": deep}
    output = [{"type": "hologram", "data": deep}, {"type": "additional_tools",
                                                   "tools": [nested_tools(100)]}]
    texts = DIALECT.answer_texts(response_body(output))
    assert any("buried" in text.text for text in texts)


def test_item_events_score_unknown_items_and_extension_fields() -> None:
    codec = DIALECT.stream(parse({"input": "x"}), "req1")
    unknown = {"type": "response.output_item.done", "output_index": 0, "sequence_number": 0,
               "item": {"type": "hologram", "id": "h_1", "caption": "surprise"}}
    assert codec.read(sse(unknown)).texts == [(0, "hologram"), (0, "h_1"), (0, "surprise")]
    delta = {"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 1,
             "content_index": 0, "sequence_number": 1, "delta": "streamed already"}
    assert codec.read(sse(delta)).texts == [(0, "streamed already")]
    extended = {"type": "response.output_item.done", "output_index": 1, "sequence_number": 2,
                "item": {**message(text_part("streamed already")), "vendor_note": "new"}}
    assert codec.read(sse(extended)).texts == [(0, "new")]


ODD_VALUES: list[Any] = [None, 7, True, "x", [], [None], {}, {"type": 7}, [[["deep"]]]]


def mutations(value: dict[str, Any]) -> Iterable[dict[str, Any]]:
    """``value`` with each key, one at a time (nested objects too), set to each odd value."""
    for key, inner in value.items():
        for odd in ODD_VALUES:
            yield {**value, key: odd}
        if isinstance(inner, dict):
            yield from ({**value, key: mutated} for mutated in mutations(inner))
        if isinstance(inner, list) and inner and isinstance(inner[0], dict):
            yield from ({**value, key: [mutated]} for mutated in mutations(inner[0]))


def test_odd_values_anywhere_in_a_request_are_parsed_or_refused_clearly() -> None:
    for sample in REQUEST_SAMPLES:
        for body in mutations(sample.body):
            for forward_unknown in (False, True):
                try:
                    parse(body, forward_unknown=forward_unknown)
                except BadRequest as exc:
                    assert exc.status == 400 and exc.message


def test_odd_values_anywhere_in_an_answer_never_raise() -> None:
    for _, output, _, _ in ANSWER_SAMPLES:
        for item in output:
            for mutated in mutations(item):
                texts = DIALECT.answer_texts(response_body([mutated]))  # never raises
                assert all(isinstance(text.text, str) and text.output == 0 for text in texts)


def test_odd_values_anywhere_in_a_stream_event_never_raise() -> None:
    codec = DIALECT.stream(parse({"input": "x"}), "r")
    for event, _ in STREAM + DELTA_EVENTS:
        for mutated in mutations(event):
            codec.read(SSEEvent(orjson.dumps(mutated).decode(), event=str(event["type"])))
    assert codec.cut([0], SAFETY, REFUSAL)


def test_an_event_of_no_text_rule_is_read_but_its_ids_and_audio() -> None:
    """A partial image's base64 is a text of the event: the pipeline reads the text in it
    (stream_relay.py); audio bytes are not."""
    codec = DIALECT.stream(parse({"input": "x"}), "r")
    image = {"type": "response.image_generation_call.partial_image", "item_id": "ig_1",
             "output_index": 0, "partial_image_index": 0, "partial_image_b64": "iVBORw0KGgo"}
    audio = {"type": "response.audio.delta", "sequence_number": 1, "delta": "UklGRg=="}
    cite = {"type": "response.output_text.annotation.added", "item_id": "msg_1",
            "annotation": {"type": "url_citation", "title": "A page", "url": "https://a.b"}}
    assert codec.read(sse(image)).texts == [(0, "iVBORw0KGgo")]
    assert codec.read(sse(audio)).texts == []
    assert [text for _, text in codec.read(sse(cite)).texts] == ["A page", "https://a.b"]


def _generated_event(rng: random.Random) -> tuple[dict[str, Any], list[str]]:
    """An event of a random shape (mostly text deltas, in every type), and the texts of a
    whole item's log-probabilities waiting in the stream when it comes (usually none)."""
    kinds = [*sorted(STREAMED_TEXT), "response.output_text.delta", "response.audio.delta",
             "response.output_text.done", "response.completed", "vendor.event"]
    data: dict[str, Any] = {"type": rng.choice([*kinds, *kinds, None, 7])}
    for key, values in (
            ("delta", ["", "word ", "toxic", None, ["toxic"], {"stdout": "toxic"}]),
            ("logprobs", [[], [], [{"token": "a", "logprob": -0.1, "bytes": [97],
                                    "top_logprobs": [{"token": "toxic", "logprob": -1.0,
                                                      "bytes": []}]}]]),
            ("sequence_number", [3, 9, True, "4"]), ("output_index", [0, 2, False, None, "x"]),
            ("content_index", [0, 0, "toxic"]), ("item_id", ["msg_1"]),
            ("obfuscation", ["Zq3"]), ("vendor_note", ["toxic", 5]),
            ("response", [{"id": "r", "model": "m", "output": []}])):
        if rng.random() < (0.9 if key == "delta" else 0.1 if key in ("response", "vendor_note")
                           else 0.5):
            data[key] = rng.choice(values)
    return data, (["toxic"] if rng.random() < 0.1 else [])


def _state(stream: ResponsesStream) -> tuple[Any, ...]:
    return (stream.last_sequence, stream.last_output, stream.seen, stream.whole_alternatives,
            stream.streamed_alternatives, stream.response)


def test_the_usual_events_reader_sees_and_leaves_what_the_general_reader_does():
    """``_text_delta`` stands in for the general reader on the events it takes: on
    generated events it either declines or gives the same view and leaves the stream in
    the same state."""
    def stream(waiting: list[str]) -> ResponsesStream:
        made = ResponsesStream("req", None)
        made.seen = ["earlier "]
        made.whole_alternatives = list(waiting)
        return made

    def fast(case: tuple[dict[str, Any], list[str]]) -> Any:
        reader = stream(case[1])
        view = reader._text_delta(case[0])
        return None if view is None else (view, _state(reader))

    def general(case: tuple[dict[str, Any], list[str]]) -> Any:
        reader = stream(case[1])
        return reader._read(SSEEvent(orjson.dumps(case[0]).decode()), case[0]), _state(reader)

    assert_stands_in(_generated_event, fast, general)
