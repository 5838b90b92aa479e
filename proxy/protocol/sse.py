"""A sans-IO codec for server-sent events as OpenAI-compatible APIs stream them.

``SSEDecoder.feed(chunk)`` accepts bytes split anywhere (mid-line, mid-CRLF, mid-UTF-8
character) and returns the events completed so far. Lines end in LF, CRLF or CR. Comment
lines (``:``) are ignored; ``data`` lines of one event are joined with newlines; an event
ends at a blank line. ``close()`` returns a last event that had no trailing blank line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

DONE = "[DONE]"


@dataclass(frozen=True, slots=True)
class SSEEvent:
    data: str
    event: str | None = None
    id: str | None = None

    @property
    def is_done(self) -> bool:
        return self.data.strip() == DONE

    def json_object(self) -> dict[str, Any] | None:
        """The data as a JSON object, or None (not JSON, or not an object): stream codecs
        never raise on what an upstream sends."""
        try:
            value = orjson.loads(self.data)
        except orjson.JSONDecodeError:
            return None
        return value if isinstance(value, dict) else None


class SSEDecoder:
    def __init__(self) -> None:
        self._buffer = bytearray()
        self._pending_cr = False
        self._data: list[str] = []
        self._event: str | None = None
        self._id: str | None = None

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        events: list[SSEEvent] = []
        for line in self._lines(chunk):
            event = self._line(line)
            if event is not None:
                events.append(event)
        return events

    def close(self) -> list[SSEEvent]:
        events = self.feed(b"\n") if self._buffer else []
        if self._data:
            events.append(self._dispatch())
        return [event for event in events if event is not None]

    def _lines(self, chunk: bytes) -> list[bytes]:
        if self._pending_cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]  # the LF of a CRLF split across two chunks
        self._pending_cr = False
        self._buffer += chunk
        data = bytes(self._buffer).replace(b"\r\n", b"\n")
        if data.endswith(b"\r"):
            self._pending_cr = True
        lines = data.replace(b"\r", b"\n").split(b"\n")
        self._buffer = bytearray(lines.pop())
        return lines

    def _line(self, raw: bytes) -> SSEEvent | None:
        if not raw:
            return self._dispatch() if (self._data or self._event) else None
        line = raw.decode("utf-8", errors="replace")
        if line.startswith(":"):
            return None
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value
        elif field == "id":
            self._id = value
        return None

    def _dispatch(self) -> SSEEvent:
        event = SSEEvent("\n".join(self._data), self._event, self._id)
        self._data, self._event, self._id = [], None, None
        return event


def encode(data: str | bytes, event: str | None = None) -> bytes:
    """One SSE event; multi-line data is split into several ``data:`` lines."""
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    head = f"event: {event}\n" if event else ""
    body = "".join(f"data: {line}\n" for line in text.split("\n"))
    return (head + body + "\n").encode("utf-8")


DONE_EVENT = encode(DONE)
