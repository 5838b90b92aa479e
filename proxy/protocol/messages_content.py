"""Anthropic Messages content blocks: which texts each block type carries, sans-IO.

One table of block readers serves both directions, through a sink (``messages_sinks``):
a request's ``messages[].content`` and ``system`` (texts with paths; a block type the
dialect does not know is a BadRequest, or counted with ``forward_unknown``), and an
answer's ``content`` or a stream's ``content_block_start`` (texts only, never raising).

What each block gives: ``text`` its text and its citations' strings; ``thinking`` its
thinking (the signature is not text); ``tool_use`` and ``server_tool_use`` the tool name
and the ``input`` object (request: each string leaf at its own path, plus the object's
keys as one text whose path ends in ``KEY``: scored, never rewritten; answer: the input
as JSON text, as a stream sends it); ``tool_result`` its content (a string, or text,
image, document, search_result, tool_reference and browser_state blocks), all with role
``tool``; ``document`` its title, context and text source (``text`` data, or ``content``
blocks); ``search_result`` its title, source and text blocks; server tool results
(web search, web fetch, code execution, text editor, tool search) every string of their
``content`` but ids, codes and types, role ``tool``. Images, PDF/URL/file documents,
redacted thinking, container uploads and ``encrypted_*`` fields are counted unreadable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from proxy.protocol.dialect import JsonPath
from proxy.protocol.messages_sinks import AnswerSink, Sink


@dataclass(frozen=True, slots=True)
class Scope:
    """Where blocks sit: who the model takes them from, the kind a ``text`` block gets
    there, and the block types the API accepts there."""

    role: str
    text_kind: str
    allowed: frozenset[str]


Reader = Callable[[Sink, Scope, JsonPath, dict[str, Any]], None]


def read_blocks(sink: Sink, scope: Scope, path: JsonPath, blocks: Any) -> None:
    """A content: a string (one text) or an array of blocks of the types ``scope`` allows."""
    if isinstance(blocks, str):
        sink.text(scope.role, scope.text_kind, path, blocks)
    elif isinstance(blocks, list):
        for index, block in enumerate(blocks):
            read_block(sink, scope, (*path, index), block)
    else:
        sink.unknown(path, "must be a string or an array of content blocks", blocks)


def read_block(sink: Sink, scope: Scope, path: JsonPath, block: Any) -> None:
    kind = block.get("type") if isinstance(block, dict) else None
    reader = READERS.get(kind) if isinstance(kind, str) and kind in scope.allowed else None
    if reader is None:
        sink.unknown(path, f"is not a content block this proxy can check here "
                           f"(type {str(kind)[:40]!r})", block)
    else:
        reader(sink, scope, path, block)


def _text(sink: Sink, scope: Scope, path: JsonPath, block: dict[str, Any]) -> None:
    sink.text(scope.role, scope.text_kind, (*path, "text"), block.get("text"), True)
    if block.get("citations") is not None:
        sink.record(scope.role, "citation", (*path, "citations"), block["citations"])


def _unreadable(sink: Sink, scope: Scope, path: JsonPath, block: dict[str, Any]) -> None:
    sink.unreadable()  # redacted_thinking, container_upload


def _image(sink: Sink, scope: Scope, path: JsonPath, block: dict[str, Any]) -> None:
    """A base64 image's text is read (attachments.py), one by URL once fetched
    (pipeline/fetch.py); one by file id is unreadable."""
    source = block.get("source")
    if isinstance(source, dict) and source.get("type") == "base64":
        sink.attachment(scope.role, (*path, "source", "data"), source.get("data"),
                        source.get("media_type"))
    elif isinstance(source, dict) and source.get("type") == "url":
        sink.link(scope.role, (*path, "source"), source.get("url"), False)
    else:
        sink.unreadable()


def _thinking(sink: Sink, scope: Scope, path: JsonPath, block: dict[str, Any]) -> None:
    sink.text(scope.role, "thinking", (*path, "thinking"), block.get("thinking"), True)


def _tool_use(sink: Sink, scope: Scope, path: JsonPath, block: dict[str, Any]) -> None:
    sink.text(scope.role, "tool_use.name", (*path, "name"), block.get("name"), True)
    sink.json_object(scope.role, "tool_use.input", (*path, "input"), block.get("input"))


def _tool_result(sink: Sink, scope: Scope, path: JsonPath, block: dict[str, Any]) -> None:
    if block.get("content") is not None:
        read_blocks(sink, TOOL_RESULT, (*path, "content"), block["content"])


def _tool_reference(sink: Sink, scope: Scope, path: JsonPath, block: dict[str, Any]) -> None:
    sink.text(scope.role, "tool_result", (*path, "tool_name"), block.get("tool_name"), True)


def _browser_state(sink: Sink, scope: Scope, path: JsonPath, block: dict[str, Any]) -> None:
    sink.record(scope.role, "tool_result", path, block)  # tab titles and URLs, changes


def _server_tool_result(sink: Sink, scope: Scope, path: JsonPath,
                        block: dict[str, Any]) -> None:
    sink.record("tool", "server_tool_result", (*path, "content"), block.get("content"))


def _web_fetch_result(sink: Sink, scope: Scope, path: JsonPath, block: dict[str, Any]) -> None:
    """The fetched page is a document (a PDF one is unreadable, not base64 'text')."""
    content, here = block.get("content"), (*path, "content")
    if not (isinstance(content, dict) and content.get("type") == "web_fetch_result"):
        return sink.record("tool", "server_tool_result", here, content)
    sink.text("tool", "server_tool_result", (*here, "url"), content.get("url"))
    document = content.get("content")
    if isinstance(document, dict):
        return _document(sink, TOOL_RESULT, (*here, "content"), document)
    return sink.unknown((*here, "content"), "must be a document block", document)


def _document(sink: Sink, scope: Scope, path: JsonPath, block: dict[str, Any]) -> None:
    sink.text(scope.role, "document.title", (*path, "title"), block.get("title"))
    sink.text(scope.role, "document.context", (*path, "context"), block.get("context"))
    source, here = block.get("source"), (*path, "source")
    kind = source.get("type") if isinstance(source, dict) else None
    source = source if isinstance(source, dict) else {}
    if kind == "text":
        sink.text(scope.role, "document", (*here, "data"), source.get("data"), True)
    elif kind == "content":
        inner = Scope(scope.role, "document", DOCUMENT_BLOCKS)
        read_blocks(sink, inner, (*here, "content"), source.get("content"))
    elif kind == "base64":  # a PDF
        sink.attachment(scope.role, (*here, "data"), source.get("data"),
                        source.get("media_type"))
    elif kind == "url":  # a PDF, read once fetched (pipeline/fetch.py)
        sink.link(scope.role, here, source.get("url"), True)
    elif kind == "file":
        sink.unreadable()  # a document the proxy never sees
    else:
        sink.unknown(here, "is not a document source this proxy can check", source)


def _search_result(sink: Sink, scope: Scope, path: JsonPath, block: dict[str, Any]) -> None:
    sink.text(scope.role, "search_result.title", (*path, "title"), block.get("title"), True)
    sink.text(scope.role, "search_result.source", (*path, "source"), block.get("source"), True)
    inner = Scope(scope.role, "search_result", TEXT_BLOCKS)
    read_blocks(sink, inner, (*path, "content"), block.get("content"))


READERS: dict[str, Reader] = {
    "text": _text, "image": _image, "document": _document,
    "search_result": _search_result, "thinking": _thinking,
    "redacted_thinking": _unreadable, "tool_use": _tool_use, "server_tool_use": _tool_use,
    "tool_result": _tool_result, "tool_reference": _tool_reference,
    "browser_state": _browser_state, "web_fetch_tool_result": _web_fetch_result,
    "web_search_tool_result": _server_tool_result,
    "code_execution_tool_result": _server_tool_result,
    "bash_code_execution_tool_result": _server_tool_result,
    "text_editor_code_execution_tool_result": _server_tool_result,
    "tool_search_tool_result": _server_tool_result, "container_upload": _unreadable,
}
TEXT_BLOCKS = frozenset({"text"})
DOCUMENT_BLOCKS = frozenset({"text", "image"})
ANSWER_BLOCKS = frozenset({  # the SDK's ContentBlock union
    "text", "thinking", "redacted_thinking", "tool_use", "server_tool_use",
    "web_search_tool_result", "web_fetch_tool_result", "code_execution_tool_result",
    "bash_code_execution_tool_result", "text_editor_code_execution_tool_result",
    "tool_search_tool_result", "container_upload",
})
MESSAGE_BLOCKS = ANSWER_BLOCKS | {"image", "document", "search_result", "tool_result"}
TOOL_RESULT = Scope("tool", "tool_result", frozenset({
    "text", "image", "document", "search_result", "tool_reference", "browser_state"}))
SYSTEM = Scope("system", "system", TEXT_BLOCKS)
USER = Scope("user", "text", MESSAGE_BLOCKS)
ASSISTANT = Scope("assistant", "text", MESSAGE_BLOCKS)
# An answer's blocks, and an image a compatible server may answer with (read by OCR).
ANSWER = Scope("assistant", "text", ANSWER_BLOCKS | {"image"})


# The keys each answer block's reader reads (beside NOT_TEXT's ids, types, signatures and
# data): any other key of an answer block is a vendor's, read as ``extension``.
_READ_KEYS = {"text": {"text", "citations"}, "thinking": {"thinking"},
              "tool_use": {"name", "input"}, "server_tool_use": {"name", "input"}}


def answer_block_texts(content: Any) -> list[tuple[str, str]]:
    """(kind, text) of an answer's content (a list of blocks), or of one block."""
    sink = AnswerSink()
    if isinstance(content, list):
        read_blocks(sink, ANSWER, ("content",), content)
    else:
        read_block(sink, ANSWER, ("content_block",), content)
    for block in content if isinstance(content, list) else [content]:
        if isinstance(block, dict) and block.get("type") in ANSWER_BLOCKS:
            read = _READ_KEYS.get(block["type"], {"content"})  # a tool result's content
            sink.record("assistant", "extension", (), {
                key: value for key, value in block.items() if key not in read})
    return sink.texts
