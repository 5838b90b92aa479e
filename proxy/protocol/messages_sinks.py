"""Where the Messages block readers put what they find: a request's texts (with paths,
strict about shapes) or an answer's texts (never raising), sans-IO.

- ``RequestSink``: every text with its path, so a redaction can rewrite it in place; a
  shape it does not know is a BadRequest, or is counted in ``unknown`` when
  ``forward_unknown`` is set. A JSON object the model reads (a tool's ``input``) gives
  each string leaf at its own path, plus the object's keys, one per line, as one text
  whose path ends in ``KEY``: scored, never rewritten.
- ``AnswerSink``: texts only; never raises; the strings of a shape it does not know are
  scored as ``extension``; a JSON object is one JSON text, as a stream sends it.

An API record (a server tool's result, a citation, a browser state) gives every string
but those under ``NOT_TEXT`` keys; ``encrypted_*`` strings are counted unreadable.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from proxy.protocol.dialect import IMAGE_KIND, KEY, JsonPath, ParsedRequest, TextField
from proxy.protocol.errors import BadRequest
from proxy.protocol.fields import render, string_leaves

# Keys of API-defined records whose strings no model reads as text: ids, enums, codes,
# opaque tokens. (Never applied to tool inputs or schemas: there every string counts.)
NOT_TEXT = frozenset({
    "type", "id", "tool_use_id", "file_id", "media_type", "error_code", "signature",
    "cache_control", "caller", "retrieved_at", "file_type", "data", "encrypted_index", "tab_id",
})


class Sink(Protocol):
    def text(self, role: str, kind: str, path: JsonPath, value: Any,
             required: bool = False) -> None: ...
    def unreadable(self) -> None: ...
    def attachment(self, role: str, path: JsonPath, data: Any, media_type: Any) -> None: ...
    def link(self, role: str, path: JsonPath, url: Any, document: bool) -> None: ...
    def unknown(self, path: JsonPath, why: str, value: Any) -> None: ...
    def json_object(self, role: str, kind: str, path: JsonPath, value: Any) -> None: ...
    def record(self, role: str, kind: str, path: JsonPath, value: Any) -> None: ...


def record_leaves(value: Any, path: JsonPath) -> Iterator[tuple[JsonPath, str]]:
    """(path, string) for every non-empty string of an API record, in order, skipping
    ``NOT_TEXT`` keys. Iterative: no nesting depth can exhaust the stack."""
    stack: list[tuple[JsonPath, Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str) and item:
            yield where, item
        elif isinstance(item, dict):
            stack.extend(reversed([((*where, k), v) for k, v in item.items()
                                   if k not in NOT_TEXT]))
        elif isinstance(item, list):
            stack.extend(reversed([((*where, i), v) for i, v in enumerate(item)]))


def record_texts(value: Any) -> list[str]:
    """The strings ``record_leaves`` yields, without their paths. An object whose every
    field but ``NOT_TEXT`` ones is a string (a stream's usual delta) is read in one pass."""
    if type(value) is dict:
        texts = []
        for key, item in value.items():
            if key in NOT_TEXT:
                continue
            if type(item) is not str:
                break
            if item:
                texts.append(item)
        else:
            return texts
    return [text for _, text in record_leaves(value, ())]


def _encrypted(path: JsonPath) -> bool:
    return bool(path) and isinstance(path[-1], str) and path[-1].startswith("encrypted_")


@dataclass(slots=True)
class RequestSink:
    request: ParsedRequest
    forward_unknown: bool = False

    def add(self, role: str, kind: str, path: JsonPath, text: str) -> None:
        self.request.texts.append(TextField(role, kind, path, text))

    def text(self, role: str, kind: str, path: JsonPath, value: Any,
             required: bool = False) -> None:
        if isinstance(value, str):
            if value:
                self.add(role, kind, path, value)
        elif value is not None or required:
            self.unknown(path, "must be a string", value)

    def unreadable(self) -> None:
        self.request.unreadable += 1

    def attachment(self, role: str, path: JsonPath, data: Any, media_type: Any) -> None:
        self.request.attach(role, path, data, media_type)

    def link(self, role: str, path: JsonPath, url: Any, document: bool) -> None:
        self.request.link(role, path, url, "source", document=document)

    def unknown(self, path: JsonPath, why: str, value: Any) -> None:
        if not self.forward_unknown:
            raise BadRequest(f"{render(path)} {why}", param=render(path))
        self.request.unknown += 1

    def json_object(self, role: str, kind: str, path: JsonPath, value: Any) -> None:
        """Each string leaf at its own path; the keys, one per line, at ``path + KEY``."""
        if not isinstance(value, dict):
            return self.unknown(path, "must be an object", value)
        keys = []
        for where, text in string_leaves(value, path, keys=True):
            if where[-1] == KEY:
                keys.append(text)
            else:
                self.add(role, kind, where, text)
        if keys:
            self.add(role, kind, (*path, KEY), "\n".join(dict.fromkeys(keys)))
        return None

    def record(self, role: str, kind: str, path: JsonPath, value: Any) -> None:
        for where, text in record_leaves(value, path):
            if _encrypted(where):
                self.unreadable()
            else:
                self.add(role, kind, where, text)


@dataclass(slots=True)
class AnswerSink:
    texts: list[tuple[str, str]] = field(default_factory=list)  # (kind, text)

    def text(self, role: str, kind: str, path: JsonPath, value: Any,
             required: bool = False) -> None:
        if isinstance(value, str) and value:
            self.texts.append((kind, value))
        elif not isinstance(value, str) and value is not None:
            self.unknown(path, "", value)

    def unreadable(self) -> None:
        return None

    def attachment(self, role: str, path: JsonPath, data: Any, media_type: Any) -> None:
        """An image in an answer (a compatible server's image block): kept as its base64
        text, which the pipeline reads as the text in the image
        (attachments.read_inline_images); other data is no text of an answer."""
        if isinstance(data, str) and data and str(media_type).startswith("image/"):
            self.texts.append((IMAGE_KIND, data))

    def link(self, role: str, path: JsonPath, url: Any, document: bool) -> None:
        return None

    def unknown(self, path: JsonPath, why: str, value: Any) -> None:
        self.record("assistant", "extension", path, value)

    def json_object(self, role: str, kind: str, path: JsonPath, value: Any) -> None:
        if isinstance(value, dict) and value:
            try:
                self.texts.append((kind, orjson.dumps(value).decode()))
            except orjson.JSONEncodeError:  # nested past orjson's limit: its strings
                self.record(role, kind, path, value)
        elif value is not None and not isinstance(value, dict):
            self.unknown(path, "", value)

    def record(self, role: str, kind: str, path: JsonPath, value: Any) -> None:
        self.texts.extend((kind, text) for where, text in record_leaves(value, path)
                          if not _encrypted(where))
