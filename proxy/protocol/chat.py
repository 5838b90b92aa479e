"""The Chat Completions dialect (``POST /v1/chat/completions``), request side.

Every text the model reads is scored: message contents (strings, ``text`` and ``refusal``
parts), names, assistant tool-call and function-call arguments, refusals and reasoning,
tool results, tool and function definitions, the response format's schema, predicted
output, and any string in a field this module does not know (vendor extensions such as a
chat template): unknown fields are scored as ``extension`` texts, never skipped. Content
parts no text classifier can read (images, audio, files) are counted as unreadable (the text
in an inline file or image, and the speech in an inline audio clip, is read:
proxy/pipeline/attachments.py); a part of an unknown type is a 400 unless
``forward_unknown`` is set.
"""

from __future__ import annotations

from typing import Any

from proxy.protocol.chat_answer import ChatStreamCodec, answer_texts, block_answer
from proxy.protocol.dialect import (
    AUDIO_KIND,
    FILE_KIND,
    IMAGE_KIND,
    KEY,
    AnswerText,
    JsonPath,
    ParsedRequest,
    StreamCodec,
    TextField,
    is_data_url,
    is_web_url,
)
from proxy.protocol.errors import BadRequest, ProxyError, error_envelope
from proxy.protocol.fields import (
    definition_text,
    load_object,
    render,
    request_of,
    required_list,
    string_leaves,
)
from proxy.protocol.safety import (
    input_blocked_envelope,
    refusal_completion,
    refusal_stream,
)

REQUEST_KINDS = frozenset({
    "message.content", "message.name", "message.refusal", "message.reasoning",
    "message.tool_call.arguments", "message.tool_call.name", "message.function_call",
    "message.extension", "tool.definition", "response_format.schema", "prediction",
    "extension", FILE_KIND, IMAGE_KIND, AUDIO_KIND,
})
# Top-level fields that carry no text the model reads (settings, ids, enums, numbers).
_SETTINGS = frozenset({
    "model", "stream", "stream_options", "n", "temperature", "top_p", "max_tokens",
    "max_completion_tokens", "presence_penalty", "frequency_penalty", "logit_bias",
    "logprobs", "top_logprobs", "seed", "stop", "user", "safety_identifier",
    "prompt_cache_key", "prompt_cache_retention", "metadata", "store", "service_tier",
    "parallel_tool_calls", "tool_choice", "function_call", "modalities", "audio",
    "reasoning_effort", "verbosity", "web_search_options",
})
_DEFINITIONS = {"tools": "tool.definition", "functions": "tool.definition",
                "response_format": "response_format.schema"}
_MESSAGE_SETTINGS = frozenset({"role", "tool_call_id", "audio", "prefix"})
# The roles the API defines. Another role is read as text: a server's chat template may
# write it into the prompt as it is (ChatML: "<|im_start|>{role}").
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_UNREADABLE_PARTS = frozenset({"image_url", "input_audio", "file"})


class ChatDialect:
    name = "chat_completions"
    upstream_path = "chat/completions"

    def parse_request(self, raw: bytes, *, forward_unknown: bool = False) -> ParsedRequest:
        body = load_object(raw)
        messages = required_list(body, "messages")
        request = request_of(body)
        for index, message in enumerate(messages):
            _read_message(request, index, message, forward_unknown)
        _read_top_level(request)
        return request

    def answer_texts(self, body: dict[str, Any]) -> list[AnswerText]:
        return answer_texts(body)

    def block_answer(self, body: dict[str, Any], blocked: set[int], refusal_text: str,
                     safety: dict[str, Any]) -> None:
        block_answer(body, blocked, refusal_text, safety)

    def input_blocked(self, request: ParsedRequest, request_id: str, safety: dict[str, Any],
                      refusal_text: str, style: str) -> tuple[int, dict[str, Any] | bytes]:
        if style == "error":
            return 400, input_blocked_envelope(safety, param="messages")
        if request.stream:
            return 200, refusal_stream(request_id, request.model, refusal_text, safety)
        return 200, refusal_completion(request_id, request.model, refusal_text, safety)

    def error_body(self, error: ProxyError) -> dict[str, Any]:
        return error_envelope(error.message, error.error_type, error.param, error.code)

    def stream(self, request: ParsedRequest, request_id: str) -> StreamCodec:
        return ChatStreamCodec(request_id, request.model)


def _read_message(request: ParsedRequest, index: int, message: Any,
                  forward_unknown: bool) -> None:
    path = ("messages", index)
    if not isinstance(message, dict) or not isinstance(message.get("role"), str):
        raise BadRequest(f"{render(path)} must be an object with a 'role' string",
                         param=render(path))
    role = message["role"]
    if role not in _ROLES:  # scored, never rewritten (a path ending in KEY)
        request.texts.append(TextField("extension", "message.extension", (*path, "role", KEY),
                                       role))
    for key, value in message.items():
        if key == "content":
            _read_content(request, role, (*path, "content"), value, forward_unknown)
        elif key in ("tool_calls", "function_call"):
            _read_calls(request, role, (*path, key), value)
        elif key not in _MESSAGE_SETTINGS:
            kind = {"name": "message.name", "refusal": "message.refusal",
                    "reasoning_content": "message.reasoning", "reasoning": "message.reasoning"
                    }.get(key, "message.extension")
            _add_leaves(request, role, kind, (*path, key), value)


def _read_content(request: ParsedRequest, role: str, path: JsonPath, content: Any,
                  forward_unknown: bool) -> None:
    if isinstance(content, str):
        request.texts.append(TextField(role, "message.content", path, content))
    elif isinstance(content, list):
        for index, part in enumerate(content):
            _read_part(request, role, (*path, index), part, forward_unknown)
    elif content is not None:
        raise BadRequest(f"{render(path)} must be a string or an array of parts",
                         param=render(path))


def _read_part(request: ParsedRequest, role: str, path: JsonPath, part: Any,
               forward_unknown: bool) -> None:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind == "text" and isinstance(part.get("text"), str):
        request.texts.append(TextField(role, "message.content", (*path, "text"), part["text"]))
    elif kind == "refusal" and isinstance(part.get("refusal"), str):
        request.texts.append(TextField(role, "message.refusal", (*path, "refusal"),
                                       part["refusal"]))
    elif kind == "file" and isinstance(part.get("file"), dict):  # a PDF, inline or by id
        request.attach(role, (*path, "file", "file_data"), part["file"].get("file_data"))
    elif kind == "image_url" and (image := _image_url(part.get("image_url"), path)):
        where, url = image  # its text is read; one by URL once fetched (pipeline/fetch.py)
        if is_data_url(url):
            request.attach(role, where, url)
        else:
            request.link(role, where, url)
    elif kind == "input_audio" and isinstance(part.get("input_audio"), dict):  # speech read
        request.attach(role, (*path, "input_audio", "data"), part["input_audio"].get("data"))
    elif kind in _UNREADABLE_PARTS:
        request.unreadable += 1
    elif forward_unknown:
        request.unknown += 1
    else:
        raise BadRequest(f"{render(path)} is not a content part this proxy can check "
                         f"(type {str(kind)[:40]!r})", param=render(path))


def _image_url(image: Any, path: JsonPath) -> tuple[JsonPath, str] | None:
    """Where an image's URL is (``{"url": ...}``, or the URL alone as some servers take
    it), and the URL: a data: URL, or one to fetch; None for anything else (unreadable)."""
    url, where = (image.get("url"), (*path, "image_url", "url")) if isinstance(image, dict) \
        else (image, (*path, "image_url"))
    return (where, url) if is_data_url(url) or is_web_url(url) else None


def _read_calls(request: ParsedRequest, role: str, path: JsonPath, value: Any) -> None:
    calls = value if isinstance(value, list) else [value]
    for index, call in enumerate(calls):
        here = (*path, index) if isinstance(value, list) else path
        function = call.get("function", call) if isinstance(call, dict) else None
        if not isinstance(function, dict):
            _add_leaves(request, role, "message.tool_call.arguments", here, call)
            continue
        where = (*here, "function") if function is not call else here
        for key, item in function.items():
            kind = "message.tool_call.name" if key == "name" else "message.tool_call.arguments"
            _add_leaves(request, role, kind, (*where, key), item)


def _read_top_level(request: ParsedRequest) -> None:
    for key, value in request.body.items():
        if key in _DEFINITIONS:
            items = value if isinstance(value, list) else [value]
            for index, item in enumerate(items):
                here = (key, index) if isinstance(value, list) else (key,)
                text = definition_text(item, here)
                if text:
                    request.texts.append(TextField("definition", _DEFINITIONS[key], text[0],
                                                   text[1]))
        elif key == "prediction":
            _add_leaves(request, "assistant", "prediction", (key,), value)
        elif key not in _SETTINGS and key != "messages":
            _add_leaves(request, "extension", "extension", (key,), value)


def _add_leaves(request: ParsedRequest, role: str, kind: str, path: JsonPath, value: Any) -> None:
    for where, text in string_leaves(value, path):
        request.texts.append(TextField(role, kind, where, text))


DIALECT = ChatDialect()
