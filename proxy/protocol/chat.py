"""Views of chat-completion requests and answers: what to score, and how to rewrite.

The request body is kept as parsed (unknown fields pass through untouched); views only
read it, and a rewrite (redaction) replaces a text at the place it came from.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from proxy.protocol.errors import BadRequest


@dataclass(frozen=True, slots=True)
class TextRef:
    """Where a scored text sits in a request: message index, and part index for lists."""

    message: int
    part: int | None
    text: str


@dataclass(slots=True)
class ChatRequest:
    body: dict[str, Any]
    texts: list[TextRef] = field(default_factory=list)
    unscanned_parts: int = 0

    @property
    def model(self) -> str | None:
        model = self.body.get("model")
        return model if isinstance(model, str) else None

    @property
    def stream(self) -> bool:
        return self.body.get("stream") is True

    @property
    def messages(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = self.body["messages"]
        return messages

    def last_user_text(self) -> str | None:
        for ref in reversed(self.texts):
            if self.messages[ref.message].get("role") == "user":
                return ref.text
        return None

    def conversation(self) -> list[dict[str, str]]:
        return [{"role": str(self.messages[ref.message].get("role")), "content": ref.text}
                for ref in self.texts]

    def replace_text(self, ref: TextRef, new_text: str) -> None:
        message = self.messages[ref.message]
        if ref.part is None:
            message["content"] = new_text
        else:
            message["content"][ref.part]["text"] = new_text


def parse_chat_request(raw: bytes) -> ChatRequest:
    """Parses and validates the parts the proxy relies on; raises BadRequest otherwise."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if _is_utf8(raw):
            raise BadRequest(
                f"request body is not valid JSON: {exc.msg} (char {exc.pos})") from None
        raise BadRequest("request body is not valid UTF-8") from None
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    messages = body.get("messages")
    if messages is None:
        raise BadRequest("'messages' is a required property", param="messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty array", param="messages")
    if "stream" in body and not isinstance(body["stream"], bool):
        raise BadRequest("'stream' must be a boolean", param="stream")
    request = ChatRequest(body)
    for index, message in enumerate(messages):
        _collect_message(request, index, message)
    return request


def _collect_message(request: ChatRequest, index: int, message: Any) -> None:
    if not isinstance(message, dict) or not isinstance(message.get("role"), str):
        raise BadRequest(f"messages[{index}] must be an object with a 'role' string",
                         param=f"messages[{index}]")
    content = message.get("content")
    if isinstance(content, str):
        request.texts.append(TextRef(index, None, content))
    elif isinstance(content, list):
        for part_index, part in enumerate(content):
            if isinstance(part, dict) and part.get("type") == "text" and isinstance(
                    part.get("text"), str):
                request.texts.append(TextRef(index, part_index, part["text"]))
            else:
                request.unscanned_parts += 1
    elif content is not None:
        raise BadRequest(f"messages[{index}].content must be a string or an array of parts",
                         param=f"messages[{index}].content")


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def choice_texts(message: dict[str, Any]) -> Iterator[str]:
    """Every text of one answer message: content and tool-call arguments."""
    content = message.get("content")
    if isinstance(content, str) and content:
        yield content
    elif isinstance(content, list):
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                yield part["text"]
    for call in message.get("tool_calls") or ():
        function = call.get("function") if isinstance(call, dict) else None
        arguments = function.get("arguments") if isinstance(function, dict) else None
        if isinstance(arguments, str) and arguments:
            yield arguments
    function_call = message.get("function_call")
    if isinstance(function_call, dict) and isinstance(function_call.get("arguments"), str):
        yield function_call["arguments"]
