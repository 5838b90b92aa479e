"""A sans-IO codec for server-sent events as OpenAI-compatible APIs stream them.

``SSEDecoder.feed(chunk)`` accepts bytes split anywhere (mid-line, mid-CRLF, mid-UTF-8
character) and returns the events completed so far. Lines end in LF, CRLF or CR. Comment
lines (``:``) are ignored; ``data`` lines of one event are joined with newlines; an event
ends at a blank line. ``close()`` returns a last event that had no trailing blank line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

DONE = "[DONE]"
_UNREAD = object()


@dataclass(slots=True)
class SSEEvent:
    """One event as read. Its fields are never changed once made (not frozen: a frozen
    dataclass's every field assignment is a call, and a stream makes one event per token)."""

    data: str
    event: str | None = None
    id: str | None = None
    _parsed: Any = field(default=_UNREAD, compare=False, repr=False)  # json_object's, once

    @property
    def is_done(self) -> bool:
        return self.data == DONE or self.data.strip() == DONE

    def unparsed_texts(self) -> list[str]:
        """The data as text, for an event whose data is no JSON object: it is relayed as
        it came, so it is read (``[DONE]`` and blank data hold nothing)."""
        return [] if self.is_done or not self.data.strip() else [self.data]

    def json_object(self) -> dict[str, Any] | None:
        """The data as a JSON object, or None (not JSON, or not an object): stream codecs
        never raise on what an upstream sends. Parsed once; the same object every call
        (read-only: ``relayed`` writes it out)."""
        if self._parsed is _UNREAD:
            try:
                value = orjson.loads(self.data)
            except orjson.JSONDecodeError:
                value = None
            self._parsed = value if isinstance(value, dict) else None
        parsed: dict[str, Any] | None = self._parsed
        return parsed


class SSEDecoder:
    def __init__(self) -> None:
        self._buffer = b""  # the unfinished last line
        self._pending_cr = False
        self._data: list[str] = []
        self._event: str | None = None
        self._id: str | None = None

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        events: list[SSEEvent] = []
        for line in self._lines(chunk):
            if not line:  # a blank line ends the event
                if self._data or self._event:
                    events.append(self._dispatch())
                continue
            if line.startswith("data: "):  # most lines: the field and its value, at once
                self._data.append(line[6:])
                continue
            if line.startswith("event: "):  # the other line of a named event
                self._event = line[7:]
                continue
            self._field(line)
        return events

    def _field(self, line: str) -> None:
        """Any other line: a comment (``:``), a field without the space or with no value,
        ``id``, or a field this decoder ignores (``retry``, unknown ones)."""
        if line[0] == ":":
            return
        field, _, value = line.partition(":")
        if value[:1] == " ":
            value = value[1:]
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value
        elif field == "id":
            self._id = value

    def close(self) -> list[SSEEvent]:
        events = self.feed(b"\n") if self._buffer else []
        if self._data:
            events.append(self._dispatch())
        return [event for event in events if event is not None]

    def _lines(self, chunk: bytes) -> list[str]:
        """The complete lines so far, decoded (invalid UTF-8 replaced: a line feed is never
        part of a multi-byte sequence, so decoding them together equals line by line); the
        unfinished last line stays buffered as bytes, so a character split across chunks
        decodes whole."""
        if self._pending_cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]  # the LF of a CRLF split across two chunks
        self._pending_cr = False
        data = (self._buffer + chunk if self._buffer else chunk).replace(b"\r\n", b"\n")
        if data.endswith(b"\r"):
            self._pending_cr = True
        data = data.replace(b"\r", b"\n")
        end = data.rfind(b"\n")
        self._buffer = data[end + 1:]
        if end < 0:
            return []
        return data[:end].decode("utf-8", errors="replace").split("\n")

    def _dispatch(self) -> SSEEvent:
        data = self._data
        event = SSEEvent(data[0] if len(data) == 1 else "\n".join(data), self._event, self._id)
        self._data = []
        if self._event is not None or self._id is not None:
            self._event = self._id = None
        return event


def encode(data: str | bytes, event: str | None = None) -> bytes:
    """One SSE event (named when ``event`` is not empty); multi-line data is split into
    several ``data:`` lines. ``data`` as bytes is UTF-8 (a line feed is never part of a
    multi-byte character, so it splits as the text would)."""
    raw = data if isinstance(data, bytes) else data.encode("utf-8")
    head = b"event: " + event.encode("utf-8") + b"\n" if event else b""
    if raw.find(b"\n") < 0:  # most events: one data line (find: see normalize._signs)
        return head + b"data: " + raw + b"\n\n"
    return head + b"".join(b"data: " + line + b"\n" for line in raw.split(b"\n")) + b"\n"


def relayed(event: SSEEvent) -> bytes:
    """The event as the proxy passes it on: a JSON object written again from its parsed
    form, the one the stream codecs read, so the client is sent what was checked (JSON
    readers differ on a repeated key: the proxy's keeps the last copy, some clients the
    first); any other data as it came, which the codecs read whole."""
    parsed = event.json_object()
    if parsed is None:
        return encode(event.data, event.event)
    data = orjson.dumps(parsed)  # one line: orjson never writes a newline
    return b"data: " + data + b"\n\n" if event.event is None else encode(data, event.event)


DONE_EVENT = encode(DONE)
