"""Reads Responses API objects by the tables of ``responses_items``, sans-IO.

What the walkers find goes to a ``Sink``: a request's sink keeps every text with its path
and raises on a misshapen or unknown value (or counts the unknown one when forwarding); an
answer's sink keeps texts only and never raises.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

import orjson

from proxy.protocol.dialect import (
    IMAGE_KIND,
    AnswerText,
    JsonPath,
    LinkShape,
    is_data_url,
    is_web_url,
)
from proxy.protocol.errors import BadRequest
from proxy.protocol.fields import MAX_DEPTH, definition_text, string_leaves
from proxy.protocol.logprobs import LOGPROBS_KIND, alternatives
from proxy.protocol.responses_items import (
    FORMAT_SPOTS,
    ITEM_SPOTS,
    MESSAGE_ROLES,
    NOT_TEXT,
    PART_TEXT,
    TOOL_SPOTS,
    UNREADABLE_PARTS,
    Spot,
)


class Sink(Protocol):
    def text(self, role: str, kind: str, path: JsonPath, text: str) -> None: ...

    def definition(self, role: str, kind: str, path: JsonPath, value: Any) -> None:
        """A JSON value other than a string, scored whole and never rewritten."""
        ...

    def extension(self, role: str, path: JsonPath, value: Any) -> None:
        """A field no table names: every string in it."""
        ...

    def unreadable(self) -> None: ...

    def attachment(self, role: str, path: JsonPath, data: Any) -> None:
        """An inline file (``file_data``): unreadable until its text is read."""
        ...

    def link(self, role: str, path: JsonPath, url: str, shape: LinkShape = "url") -> None:
        """An image (or, as a ``file_part``, a file) by URL: unreadable until fetched and
        read."""
        ...

    def unknown(self, path: JsonPath, value: Any) -> None:
        """A type (or a message role) the tables do not know."""
        ...

    def alternatives(self, logprobs: Any) -> None:
        """A text part's log-probabilities (logprobs.py): read in answers."""
        ...

    def misshapen(self, path: JsonPath, value: Any, expected: str) -> None:
        """A value of the wrong JSON type where ``expected`` was wanted."""
        ...


def walk_typed(node: Any, table: dict[str, tuple[Spot, ...]], path: JsonPath, sink: Sink,
               streamed: bool | None = None) -> None:
    """Reads one typed object (an item, a tool, a format) by its type's spots;
    ``streamed``, when not None, keeps the spots with that flag only. An object with a
    ``role`` and no ``type`` is a message. An item's unnamed fields are extensions."""
    kind = node.get("type", "message" if "role" in node else None) if isinstance(
        node, dict) else None
    if len(path) > MAX_DEPTH or not isinstance(kind, str):
        sink.misshapen(path, node, "an object with a 'type' string")
        return
    if kind not in table:
        sink.unknown(path, node)
        return
    walk_spots(node, table[kind], path, sink, streamed)
    if table is ITEM_SPOTS and streamed is not True:
        _extensions(node, table[kind], path, sink)


def walk_spots(node: dict[str, Any], spots: tuple[Spot, ...], path: JsonPath, sink: Sink,
               streamed: bool | None = None) -> None:
    """Reads the given spots of one object (``streamed``: as in ``walk_typed``)."""
    for spot in spots:
        if streamed is None or spot.streamed == streamed:
            _walk_spot(node, spot, path, sink, streamed)


def _walk_spot(node: dict[str, Any], spot: Spot, path: JsonPath, sink: Sink,
               streamed: bool | None) -> None:
    role = node.get("role") if spot.role == "*" else spot.role
    if not isinstance(role, str):
        sink.misshapen((*path, "role"), role, "a role string")
        return
    if role not in MESSAGE_ROLES and spot.role == "*":
        sink.unknown((*path, "role"), node)
        return
    for where, value in _resolve(node, spot.path.split("."), path, sink):
        if spot.shape in ("tools", "format"):
            _walk_nested(value, spot.shape, where, sink, streamed)
        else:
            read_value(value, spot, role, where, sink)


def _extensions(node: dict[str, Any], spots: tuple[Spot, ...], path: JsonPath,
                sink: Sink) -> None:
    named = {spot.path.split(".")[0].removesuffix("[]") for spot in spots}
    role = node.get("role")
    role = role if isinstance(role, str) and role in MESSAGE_ROLES else "extension"
    for key, value in node.items():
        if key not in named and key not in NOT_TEXT and value is not None:
            sink.extension(role, (*path, key), value)


def _resolve(node: Any, segments: list[str], path: JsonPath, sink: Sink
             ) -> Iterator[tuple[JsonPath, Any]]:
    if not segments:
        yield path, node
        return
    if not isinstance(node, dict):
        sink.misshapen(path, node, "an object")
        return
    key = segments[0].removesuffix("[]")
    value = node.get(key)
    if value is None:
        return
    if key == segments[0]:
        yield from _resolve(value, segments[1:], (*path, key), sink)
    elif not isinstance(value, list):
        sink.misshapen((*path, key), value, "an array")
    else:
        for index, element in enumerate(value):
            yield from _resolve(element, segments[1:], (*path, key, index), sink)


def _walk_nested(value: Any, shape: str, path: JsonPath, sink: Sink,
                 streamed: bool | None) -> None:
    if shape == "format":
        walk_typed(value, FORMAT_SPOTS, path, sink, streamed)
    elif not isinstance(value, list):
        sink.misshapen(path, value, "an array of tools")
    else:
        for index, tool in enumerate(value):
            walk_typed(tool, TOOL_SPOTS, (*path, index), sink, streamed)


def read_value(value: Any, spot: Spot, role: str, path: JsonPath, sink: Sink) -> None:
    """Reads the value at one spot by the spot's shape."""
    if spot.shape in ("blob", "image"):
        _read_opaque(value, spot.shape, role, path, sink)
    elif spot.shape == "part":
        read_part(value, None, role, path, sink)
    elif isinstance(value, str):
        if value:
            sink.text(role, spot.kind, path, value)
    elif spot.shape == "json":
        sink.definition(role, spot.kind, path, value)
    elif spot.shape in ("content", "output") and isinstance(value, list):
        kind = None if spot.shape == "content" else spot.kind
        for index, part in enumerate(value):
            read_part(part, kind, role, (*path, index), sink)
    elif spot.shape == "text":
        sink.misshapen(path, value, "a string")
    else:
        sink.misshapen(path, value, "a string or an array of content parts")


def _read_opaque(value: Any, shape: str, role: str, path: JsonPath, sink: Sink) -> None:
    """An image (base64: the text in it is read) or a blob (unreadable)."""
    if value and shape == "image":
        sink.attachment(role, path, value)
    elif value:
        sink.unreadable()


# A text part's keys that hold no text of their own (log-probabilities are read apart, in
# answers: logprobs.py): every other key's strings are read.
PART_NOT_TEXT = frozenset({"type", "id", "logprobs"})
# Parts that are an image: one given as a data: URL has its text read (attachments.py), one
# by http(s) URL once fetched (pipeline/fetch.py); one by file id is unreadable.
_IMAGE_PARTS = frozenset({"input_image", "computer_screenshot"})


def read_part(part: Any, kind: str | None, role: str, path: JsonPath, sink: Sink) -> None:
    """One content part: its text under ``kind`` (its own type when None), or unreadable."""
    part_type = part.get("type") if isinstance(part, dict) else None
    if not isinstance(part, dict) or not isinstance(part_type, str):
        sink.misshapen(path, part, "a content part object with a 'type'")
    elif part_type in PART_TEXT:
        _read_text_part(part, PART_TEXT[part_type], kind or part_type, role, path, sink)
    elif part_type == "input_file":
        _read_file_part(part, role, path, sink)
    elif part_type in _IMAGE_PARTS and is_data_url(part.get("image_url")):
        sink.attachment(role, (*path, "image_url"), part["image_url"])  # its text is read
    elif part_type in _IMAGE_PARTS and is_web_url(part.get("image_url")):
        sink.link(role, (*path, "image_url"), part["image_url"])  # read once fetched
    elif part_type == "input_audio" and isinstance(part.get("input_audio"), dict):
        sink.attachment(role, (*path, "input_audio", "data"),  # its speech is read
                        part["input_audio"].get("data"))
    elif part_type in UNREADABLE_PARTS:
        sink.unreadable()
    else:
        sink.unknown(path, part)


def _read_file_part(part: dict[str, Any], role: str, path: JsonPath, sink: Sink) -> None:
    """Inline data is read; a file by http(s) URL once fetched; one by id is unreadable."""
    if "file_data" not in part and is_web_url(part.get("file_url")):
        sink.link(role, path, part["file_url"], "file_part")
    else:
        sink.attachment(role, (*path, "file_data"), part.get("file_data"))


def _read_text_part(part: dict[str, Any], key: str, kind: str, role: str, path: JsonPath,
                    sink: Sink) -> None:
    read_value(part.get(key), Spot(key, kind), role, (*path, key), sink)
    for other, value in part.items():  # citations (page titles, URLs), a vendor's keys
        if other != key and other not in PART_NOT_TEXT:
            sink.extension(role, (*path, other), value)
    if part.get("logprobs"):
        sink.alternatives(part["logprobs"])


class AnswerTexts:
    """A lenient sink, for answers: never raises; what it cannot read (an unknown item, a
    misshapen field) it scores as ``extension``, every string in it."""

    def __init__(self) -> None:
        self.texts: list[AnswerText] = []

    def text(self, role: str, kind: str, path: JsonPath, text: str) -> None:
        self.texts.append(AnswerText(0, kind, text))

    def definition(self, role: str, kind: str, path: JsonPath, value: Any) -> None:
        try:
            found = definition_text(value, path)
        except BadRequest:  # nested past MAX_DEPTH
            found = (path, _dump(value))
        if found and found[1]:
            self.text(role, kind, *found)

    def extension(self, role: str, path: JsonPath, value: Any) -> None:
        try:
            strings = [text for _, text in string_leaves(value, path)]
        except BadRequest:  # nested past MAX_DEPTH
            strings = [_dump(value)]
        self.texts.extend(AnswerText(0, "extension", text) for text in strings if text)

    def unreadable(self) -> None:
        return None

    def link(self, role: str, path: JsonPath, url: str, shape: LinkShape = "url") -> None:
        return None

    def attachment(self, role: str, path: JsonPath, data: Any) -> None:
        """An image in an answer (a generated one): kept as its base64 text, which the
        pipeline reads as the text in the image (attachments.read_inline_images)."""
        if isinstance(data, str) and data:
            self.texts.append(AnswerText(0, IMAGE_KIND, data))
        elif data:
            self.extension(role, path, data)

    def unknown(self, path: JsonPath, value: Any) -> None:
        self.extension("extension", path, value)

    def alternatives(self, logprobs: Any) -> None:
        self.texts.extend(AnswerText(0, LOGPROBS_KIND, text)
                          for _, text in alternatives(logprobs))

    def misshapen(self, path: JsonPath, value: Any, expected: str) -> None:
        self.extension("extension", path, value)


def _dump(value: Any) -> str:
    try:
        return orjson.dumps(value).decode("utf-8")
    except orjson.JSONEncodeError:  # deeper than orjson writes: nothing to score
        return ""


def item_texts(item: Any, streamed: bool | None = None) -> list[AnswerText]:
    """The texts of one output item (only its non-delta fields with ``streamed=False``)."""
    sink = AnswerTexts()
    walk_typed(item, ITEM_SPOTS, ("item",), sink, streamed)
    return sink.texts
