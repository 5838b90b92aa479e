"""The Anthropic Messages dialect (``POST /v1/messages``), sans-IO.

A request's model-readable texts: ``system`` (a string or text blocks), every message's
content (see ``messages_content`` for each block type; a ``system``-role message reads as
``system``), ``tools[]`` (each definition scored whole, as one text: name, description,
input schema and examples, keys included; never rewritten, as for Chat Completions),
``output_config.format`` (its JSON schema, the same way), and the strings of any
top-level field this module does not know (``extension``: a vendor's or a beta's field,
such as ``compaction.instructions``). Settings carry no text the model reads and are
skipped: ``metadata``, ``stop_sequences``, ``tool_choice`` (it names a defined tool),
``thinking``, ``mcp_servers`` (it holds authorization tokens) and the like.

Blocks look native: a blocked request is Anthropic's 400 ``invalid_request_error`` (with
``safety`` in the error object and at the top level), or, in the refusal style, a Message
(or its stream) whose one text block is the refusal with ``stop_reason: refusal``; a
blocked answer keeps its usage and gets the same content and stop reason.
"""

from __future__ import annotations

from typing import Any

from proxy.protocol.dialect import (
    FILE_KIND,
    IMAGE_KIND,
    AnswerText,
    ParsedRequest,
    StreamCodec,
    TextField,
)
from proxy.protocol.errors import ProxyError
from proxy.protocol.fields import (
    definition_text,
    load_object,
    request_of,
    required_list,
    string_leaves,
)
from proxy.protocol.messages_content import (
    ASSISTANT,
    SYSTEM,
    USER,
    answer_block_texts,
    read_blocks,
)
from proxy.protocol.messages_sinks import RequestSink
from proxy.protocol.messages_stream import (
    MESSAGE_FIELDS,
    MessagesStream,
    message_extras,
    new_message,
    refusal_details,
)
from proxy.protocol.safety import blocked_message

REQUEST_KINDS = frozenset({
    "system", "text", "citation", "thinking", "tool_use.name", "tool_use.input",
    "tool_result", "server_tool_result", "document", "document.title", "document.context",
    "search_result", "search_result.title", "search_result.source", "tool.definition",
    "output_config.format", "extension", FILE_KIND, IMAGE_KIND,
})
ANSWER_KINDS = frozenset({
    "text", "citation", "thinking", "tool_use.name", "tool_use.input", "server_tool_result",
    "document", "document.title", "document.context", "extension",
    IMAGE_KIND,  # a compatible server's image block: read by OCR
})
STREAM_EVENTS = frozenset({  # content_block_start, and the delta types with text
    "content_block_start", "text_delta", "input_json_delta", "thinking_delta",
    "citations_delta",
})
# Top-level fields with no text the model reads (settings, ids, enums, numbers, secrets).
_SETTINGS = frozenset({
    "model", "max_tokens", "stream", "temperature", "top_p", "top_k", "stop_sequences",
    "metadata", "tool_choice", "thinking", "service_tier", "cache_control", "container",
    "diagnostics", "inference_geo", "speed", "user_profile_id", "workspace_id", "betas",
    "billing_policy", "context_management", "fallback_credit_token", "mcp_servers",
    "thread",
})
_ROLES = {"user": USER, "assistant": ASSISTANT, "system": SYSTEM}
# LiteLLM maps an error whose message contains this phrase to ContentPolicyViolationError.
_ERROR_TYPES = {
    400: "invalid_request_error", 401: "authentication_error", 402: "billing_error",
    403: "permission_error", 404: "not_found_error", 413: "request_too_large",
    429: "rate_limit_error", 504: "timeout_error", 529: "overloaded_error",
}


def error_type(status: int) -> str:
    """Anthropic's error type for an HTTP status: other 5xx are ``api_error``, other 4xx
    ``invalid_request_error``."""
    return _ERROR_TYPES.get(status) or ("api_error" if status >= 500
                                        else "invalid_request_error")



def _read_message(sink: RequestSink, index: int, message: Any) -> None:
    path = ("messages", index)
    if not isinstance(message, dict):
        return sink.unknown(path, "must be an object with a 'role' and a 'content'", message)
    role = message.get("role")
    scope = _ROLES.get(role) if isinstance(role, str) else None
    if scope is None:
        sink.unknown((*path, "role"), "must be 'user', 'assistant' or 'system'", message)
        scope = USER  # forwarded: read as the user's, the most suspicious source
    if "content" not in message:
        return sink.unknown((*path, "content"), "is a required property", None)
    read_blocks(sink, scope, (*path, "content"), message["content"])
    for key, value in message.items():
        if key not in ("role", "content"):
            _extension(sink, scope.role, (*path, key), value)
    return None


def _extension(sink: RequestSink, role: str, path: tuple[str | int, ...], value: Any) -> None:
    for where, text in string_leaves(value, path):
        sink.add(role, "extension", where, text)


def _definition(sink: RequestSink, kind: str, path: tuple[str | int, ...], value: Any) -> None:
    text = definition_text(value, path)
    if text is not None:
        sink.request.texts.append(TextField("definition", kind, *text))


def _read_tools(sink: RequestSink, tools: Any) -> None:
    if not isinstance(tools, list):
        return sink.unknown(("tools",), "must be an array of tools", tools)
    for index, tool in enumerate(tools):
        if isinstance(tool, dict):
            _definition(sink, "tool.definition", ("tools", index), tool)
        else:
            sink.unknown(("tools", index), "must be an object", tool)
    return None


def _read_output_config(sink: RequestSink, config: Any) -> None:
    if not isinstance(config, dict):
        return sink.unknown(("output_config",), "must be an object", config)
    if config.get("format") is not None:
        _definition(sink, "output_config.format", ("output_config", "format"),
                    config["format"])
    return None


def _read_top_level(sink: RequestSink, key: str, value: Any) -> None:
    if value is None:
        return  # null is "not given" to the SDKs
    if key == "system":
        read_blocks(sink, SYSTEM, ("system",), value)
    elif key == "messages":
        for index, message in enumerate(value):
            _read_message(sink, index, message)
    elif key == "tools":
        _read_tools(sink, value)
    elif key == "output_config":
        _read_output_config(sink, value)
    elif key not in _SETTINGS:
        _extension(sink, "extension", (key,), value)


def refusal_message(request_id: str, model: str | None, refusal_text: str,
                    safety: dict[str, Any]) -> dict[str, Any]:
    message = new_message(f"msg_{request_id}", model,
                          [{"type": "text", "text": refusal_text}], "refusal")
    return message | {"safety": safety}


class MessagesDialect:
    name = "messages"
    upstream_path = "messages"

    def parse_request(self, raw: bytes, *, forward_unknown: bool = False) -> ParsedRequest:
        """Raises BadRequest (with ``param``) on a body the API would reject."""
        body = load_object(raw)
        required_list(body, "messages")
        request = request_of(body)
        sink = RequestSink(request, forward_unknown)
        for key, value in request.body.items():
            _read_top_level(sink, key, value)
        return request

    def answer_texts(self, body: dict[str, Any]) -> list[AnswerText]:
        """Every content block's texts, and the message's other strings (``message_extras``:
        the refusal explanation, a vendor's fields); all output 0."""
        texts = answer_block_texts(body.get("content"))
        texts += [("extension", text) for text in message_extras(body)]  # and stop_details
        return [AnswerText(0, kind, text) for kind, text in texts if text]

    def block_answer(self, body: dict[str, Any], blocked: set[int], refusal_text: str,
                     safety: dict[str, Any]) -> None:
        """The content becomes one text block of ``refusal_text``, ``stop_reason:
        refusal``; usage (tokens spent upstream) is kept, a vendor's fields are not."""
        if not blocked:
            return
        for key in [key for key in body if key not in MESSAGE_FIELDS]:
            del body[key]  # a vendor's fields
        body.update(content=[{"type": "text", "text": refusal_text}], stop_reason="refusal",
                    stop_sequence=None, stop_details=refusal_details(), safety=safety)

    def input_blocked(self, request: ParsedRequest, request_id: str, safety: dict[str, Any],
                      refusal_text: str, style: str) -> tuple[int, dict[str, Any] | bytes]:
        if style == "error":
            error = {"type": "invalid_request_error", "message": blocked_message(safety),
                     "safety": safety}
            return 400, {"type": "error", "error": error, "safety": safety,
                         "request_id": request_id}
        if request.stream:
            return 200, self.stream(request, request_id).cut([0], safety, refusal_text)
        return 200, refusal_message(request_id, request.model, refusal_text, safety)

    def error_body(self, error: ProxyError) -> dict[str, Any]:
        return {"type": "error",
                "error": {"type": error_type(error.status), "message": error.message}}

    def stream(self, request: ParsedRequest, request_id: str) -> StreamCodec:
        return MessagesStream(request.model, request_id)


DIALECT = MessagesDialect()
