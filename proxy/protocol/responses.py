"""The OpenAI Responses API (``POST /v1/responses``) as a dialect.

Request texts, in the order the model reads them: ``instructions`` (role ``developer``),
``prompt.variables`` (role ``user``), ``input`` (a string: role ``user``; a list of items read
by the tables of ``responses_items``: messages in their own role, calls in ``assistant``'s,
tool results in ``tool``'s), then ``tools`` and ``text.format`` (role ``definition``; a
schema is scored whole, never rewritten), then any top-level field this module does not
know (role and kind ``extension``: every string in it). What the model reads but the proxy
cannot see counts as unreadable: a stored ``prompt`` template, ``previous_response_id`` and
``conversation`` (server-side history). ``item_reference`` is an unknown item: it points at
stored content.

Answers: every output item's texts belong to output 0 (one response, one output); an item
the tables do not know is scored as ``extension``, every string in it. Blocks keep the
API's own shapes: a 400 ``content_filter`` error on input, or a response with ``status:
incomplete`` and ``incomplete_details.reason: content_filter`` (streamed as its events).
"""

from __future__ import annotations

from typing import Any

from proxy.protocol.dialect import (
    AUDIO_KIND,
    FILE_KIND,
    IMAGE_KIND,
    AnswerText,
    Dialect,
    JsonPath,
    LinkShape,
    ParsedRequest,
    TextField,
)
from proxy.protocol.errors import BadRequest, ProxyError
from proxy.protocol.fields import (
    definition_text,
    load_object,
    render,
    request_of,
    string_leaves,
)
from proxy.protocol.logprobs import LOGPROBS_KIND
from proxy.protocol.responses_items import ITEM_SPOTS, D, Spot
from proxy.protocol.responses_stream import (
    ADDED_TEXT,
    ITEM_EVENTS,
    STREAMED_TEXT,
    ResponsesStream,
    encode_events,
    refusal_item_events,
    refusal_message,
    response_extras,
    response_object,
    stopped,
)
from proxy.protocol.responses_walk import (
    item_texts,
    read_part,
    read_value,
    walk_spots,
    walk_typed,
)
from proxy.protocol.safety import input_blocked_envelope

_ITEM_KINDS = frozenset({
    "message_text", "input_text", "output_text", "refusal", "summary_text", "reasoning_text",
    "function_call_name", "function_call_arguments", "function_call_output",
    "custom_tool_call_name", "custom_tool_call_input", "custom_tool_call_output",
    "reasoning_summary", "reasoning_content", "file_search_query", "file_search_result",
    "web_search_query", "computer_action_text", "tool_search_arguments",
    "image_generation_prompt", "code_interpreter_code", "code_interpreter_logs",
    "shell_command", "shell_output", "apply_patch_diff", "apply_patch_output",
    "mcp_list_tools_error", "mcp_call_name", "mcp_call_arguments", "mcp_call_output",
    "mcp_approval_reason", "program_code", "program_output",
    "tool_name", "tool_description", "tool_schema", "tool_grammar",
    "text_format_name", "text_format_description", "text_format_schema", "extension",
})
REQUEST_KINDS = _ITEM_KINDS | {"instructions", "input", "prompt_variable", FILE_KIND,
                               IMAGE_KIND, AUDIO_KIND}
# a generated image (read by OCR); the texts a part's log-probabilities spell
ANSWER_KINDS = _ITEM_KINDS | {IMAGE_KIND, LOGPROBS_KIND}
STREAM_EVENTS = STREAMED_TEXT | ADDED_TEXT | ITEM_EVENTS

_BEFORE_INPUT = (Spot("instructions", "instructions", "developer"),)
_AFTER_INPUT = (Spot("tools", role=D, shape="tools"), Spot("text.format", role=D, shape="format"))
_SERVER_STATE = ("previous_response_id", "conversation")
# Top-level fields that carry no text the model reads (settings, ids, enums, numbers), and
# those read above; any other field is a vendor's or a newer API's: scored as extension.
_SETTINGS = frozenset({
    "model", "stream", "stream_options", "background", "background_options", "include",
    "max_output_tokens", "max_tool_calls", "metadata", "parallel_tool_calls", "reasoning",
    "prompt_cache_key", "prompt_cache_retention", "prompt_cache_options", "store",
    "safety_identifier", "service_tier", "temperature", "top_p", "top_logprobs", "truncation",
    "user", "tool_choice", "context_management", "moderation", "image", "access_programs",
    "instructions", "input", "prompt", "tools", "text", *_SERVER_STATE,
})


class _RequestTexts:
    """A strict sink: a misshapen value is a BadRequest; an unknown type too, unless
    ``forward_unknown``, when it is counted."""

    def __init__(self, request: ParsedRequest, forward_unknown: bool) -> None:
        self.request = request
        self.forward_unknown = forward_unknown

    def text(self, role: str, kind: str, path: JsonPath, text: str) -> None:
        self.request.texts.append(TextField(role, kind, path, text))

    def definition(self, role: str, kind: str, path: JsonPath, value: Any) -> None:
        found = definition_text(value, path)
        if found is not None:
            self.text(role, kind, *found)

    def extension(self, role: str, path: JsonPath, value: Any) -> None:
        for where, text in string_leaves(value, path):
            self.text(role, "extension", where, text)

    def unreadable(self) -> None:
        self.request.unreadable += 1

    def attachment(self, role: str, path: JsonPath, data: Any) -> None:
        self.request.attach(role, path, data)

    def link(self, role: str, path: JsonPath, url: str, shape: LinkShape = "url") -> None:
        self.request.link(role, path, url, shape, document=shape == "file_part")

    def alternatives(self, logprobs: Any) -> None:
        return None  # log-probabilities in the input: no model reads them

    def unknown(self, path: JsonPath, value: Any) -> None:
        if not self.forward_unknown:
            raise BadRequest(f"{render(path)}: a type (or role) this proxy does not know",
                             param=render(path))
        self.request.unknown += 1

    def misshapen(self, path: JsonPath, value: Any, expected: str) -> None:
        raise BadRequest(f"{render(path) or 'the body'} must be {expected}",
                         param=render(path) or None)


class ResponsesDialect:
    name = "responses"
    upstream_path = "responses"

    def parse_request(self, raw: bytes, *, forward_unknown: bool = False) -> ParsedRequest:
        """Raises BadRequest (with ``param``) on a body the API would reject."""
        body = load_object(raw)
        request = request_of(body)
        sink = _RequestTexts(request, forward_unknown)
        walk_spots(body, _BEFORE_INPUT, (), sink)
        _read_prompt(body, request, sink)
        _read_input(body, sink)
        walk_spots(body, _AFTER_INPUT, (), sink)
        request.unreadable += sum(body.get(key) is not None for key in _SERVER_STATE)
        for key, value in body.items():
            if key not in _SETTINGS:
                sink.extension("extension", (key,), value)
        return request

    def answer_texts(self, body: dict[str, Any]) -> list[AnswerText]:
        """Every output item's texts, and the response's other strings (an ``error``, an
        ``output_text`` that is not the items' text, a vendor's field); all output 0."""
        output = body.get("output")
        texts = [text for item in output for text in item_texts(item)
                 ] if isinstance(output, list) else []
        extras = response_extras(body)
        if not extras:
            return texts
        shown = "".join(text.text for text in texts)
        return texts + [AnswerText(0, "extension", extra) for extra in extras
                        if extra not in shown]

    def block_answer(self, body: dict[str, Any], blocked: set[int], refusal_text: str,
                     safety: dict[str, Any]) -> None:
        """The whole output becomes one assistant message carrying ``refusal_text``,
        whatever ``blocked`` holds: a response is one output. Usage stays as counted."""
        message_id = "msg_" + str(body.get("id") or "blocked").removeprefix("resp_")
        summarised = "output_text" in body
        blocked_body = stopped(body, [refusal_message(message_id, refusal_text)], safety)
        body.clear()
        body.update(blocked_body)
        if summarised:
            body["output_text"] = refusal_text

    def input_blocked(self, request: ParsedRequest, request_id: str, safety: dict[str, Any],
                      refusal_text: str, style: str) -> tuple[int, dict[str, Any] | bytes]:
        """``error``: 400 with the API's error object. ``refusal``: a 200 incomplete response
        carrying ``refusal_text``, as the API's events when the request asked to stream."""
        if style != "refusal":
            return 400, input_blocked_envelope(safety, param="input")
        response = response_object(request_id, request.model)
        message_id = f"msg_{request_id}"
        final = stopped(response, [refusal_message(message_id, refusal_text)], safety)
        final["usage"] = zero_usage()
        if not request.stream:
            return 200, final
        events = [{"type": "response.created", "response": response},
                  *refusal_item_events(0, message_id, refusal_text),
                  {"type": "response.incomplete", "response": final}]
        return 200, encode_events(events, 0)

    def error_body(self, error: ProxyError) -> dict[str, Any]:
        return error.envelope()

    def stream(self, request: ParsedRequest, request_id: str) -> ResponsesStream:
        return ResponsesStream(request_id, request.model)



def _read_input(body: dict[str, Any], sink: _RequestTexts) -> None:
    """``input``: a string (the user's) or a list of items; required unless ``prompt``."""
    items = body.get("input")
    if items is None:
        if body.get("prompt") is None:
            raise BadRequest("'input' is a required property (or 'prompt')", param="input")
    elif isinstance(items, str):
        read_value(items, Spot("input", "input", "user"), "user", ("input",), sink)
    elif isinstance(items, list):
        for index, item in enumerate(items):
            walk_typed(item, ITEM_SPOTS, ("input", index), sink)
    else:
        sink.misshapen(("input",), items, "a string or an array of input items")


def _read_prompt(body: dict[str, Any], request: ParsedRequest, sink: _RequestTexts) -> None:
    """A stored prompt: the template is unreadable, its variables are the user's texts."""
    prompt = body.get("prompt")
    if prompt is None:
        return
    if not isinstance(prompt, dict):
        raise BadRequest("prompt must be an object", param="prompt")
    request.unreadable += 1
    variables = prompt.get("variables") or {}
    if not isinstance(variables, dict):
        raise BadRequest("prompt.variables must be an object", param="prompt.variables")
    for name, value in variables.items():
        path: JsonPath = ("prompt", "variables", name)
        if isinstance(value, str):
            read_value(value, Spot(name, "prompt_variable"), "user", path, sink)
        else:
            read_part(value, "prompt_variable", "user", path, sink)


def zero_usage() -> dict[str, Any]:
    return {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0}}


DIALECT: Dialect = ResponsesDialect()
