"""The Anthropic Messages stream, sans-IO: reading upstream events, and ending a cut one.

Upstream events are SSE with an ``event:`` name equal to their JSON ``type``:
``message_start`` (the message: id, model, usage), ``content_block_start`` (a block,
which may carry text already), ``content_block_delta``, ``content_block_stop``,
``message_delta`` (the stop reason), ``message_stop``, ``ping`` and ``error``.

Scored, all as output 0: the texts of a ``content_block_start`` block (and of a
``message_start``'s content, empty from Anthropic) as in a whole answer; every string of
a delta but its ``type`` and ``signature`` (``text_delta.text``,
``input_json_delta.partial_json``, ``thinking_delta.thinking``, ``citations_delta``'s
cited text and titles, the strings of a delta type this module does not know); a
``message_delta``'s refusal explanation; the strings of the message and of a
``message_delta``'s delta outside ``MESSAGE_FIELDS`` (a matched ``stop_sequence``, a
vendor's field); the strings of an event's fields beside those the API defines for its type
(``_OWN_FIELDS``: a vendor's field, text where a block's index belongs); every string of an
event type this module does not know. The first text
of a block after another block's text starts with a newline, so that words of two blocks
never run together in a window.

``cut`` ends the stream as the client saw it: it starts the message if the client has not
seen it start, closes the blocks it saw open, adds the refusal as a text block at the next
index when given, then ends the message with ``stop_reason: refusal``. What the client
saw is the first ``relayed`` events read (a buffered relay drops the events it held when
it cuts); by default, every event read. From a fresh codec this is the whole refusal
stream of a blocked request.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeGuard

import orjson

from proxy.protocol.dialect import EventView
from proxy.protocol.fields import unknown_field_texts
from proxy.protocol.messages_content import answer_block_texts
from proxy.protocol.messages_sinks import record_texts
from proxy.protocol.sse import SSEEvent, encode

# A Message object's fields that hold no answer text, or are read apart (``content``,
# ``stop_details``: every string but its enums, so its refusal explanation). Any other
# string (the ``stop_sequence`` that matched, a vendor's field) is read too, and a blocked
# message keeps none of them.
MESSAGE_FIELDS = frozenset({"id", "type", "role", "model", "content", "stop_reason", "usage",
                            "container", "context_management", "stop_details", "safety"})
_DETAILS_ENUMS = frozenset({"type", "category"})
# Each event type's own fields: what its reader reads, and those that hold no text (a
# block's index, the usage counts). The strings of any other field are read too (a vendor's
# field; text where the index belongs).
_OWN_FIELDS = {
    "message_start": frozenset({"type", "message"}),
    "content_block_start": frozenset({"type", "index", "content_block"}),
    "content_block_delta": frozenset({"type", "index", "delta"}),
    "content_block_stop": frozenset({"type", "index"}),
    "message_delta": frozenset({"type", "delta", "usage"}),
    "message_stop": frozenset({"type"}),
    "error": frozenset({"type", "error"}),
    "ping": frozenset({"type"}),
}


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def refusal_details() -> dict[str, Any]:
    return {"type": "refusal", "category": None, "explanation": None}


def new_message(message_id: str, model: str | None, content: list[dict[str, Any]],
                stop_reason: str | None) -> dict[str, Any]:
    """A Message object with zero usage: a refusal, or a stream's ``message_start``."""
    message = {"id": message_id, "type": "message", "role": "assistant",
               "model": model or "unknown", "content": content, "stop_reason": stop_reason,
               "stop_sequence": None,
               "usage": {"input_tokens": 0, "output_tokens": 0}}
    if stop_reason == "refusal":
        message["stop_details"] = refusal_details()
    return message


def refusal_block(index: int, refusal_text: str) -> list[dict[str, Any]]:
    """The events of one text block holding ``refusal_text``."""
    return [
        {"type": "content_block_start", "index": index,
         "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": index,
         "delta": {"type": "text_delta", "text": refusal_text}},
        {"type": "content_block_stop", "index": index},
    ]


def encode_events(events: list[dict[str, Any]]) -> bytes:
    return b"".join(encode(orjson.dumps(event), event["type"]) for event in events)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


class MessagesStream:
    """One stream's state: the message upstream announced, the blocks it opened."""

    def __init__(self, model: str | None, request_id: str) -> None:
        self.message_id = f"msg_{request_id}"
        self.model = model
        self.read_count = 0  # events read, garbage included
        # (ordinal of the event, "message" | "start" | "stop", block index): what a client
        # that saw the first n events knows of the stream's structure
        self.structure: list[tuple[int, str, int]] = []
        self.output_tokens = 0
        self.emitted = False  # some text was read
        self.separate = False  # the next text starts a new block

    def read(self, event: SSEEvent) -> EventView:
        """Never raises: an event it cannot parse is relayed, its data read as text."""
        self.read_count += 1
        data = event.json_object()
        if data is None:
            return self._view(event.unparsed_texts())
        kind = data.get("type")
        if not isinstance(kind, str) or kind not in _READERS:  # a newer or a vendor's event:
            return self._view(record_texts(data))  # its strings are read
        view = _READERS[kind](self, data)
        own = _OWN_FIELDS[kind]
        if not (own.issuperset(data) and _is_int(data.get("index", 0))):
            self._beside(view, [text for key, value in data.items()
                                if key not in own or (key == "index" and not _is_int(value))
                                for text in record_texts({key: value})])
        return view

    def _beside(self, view: EventView, texts: list[str]) -> None:
        """``texts`` (an event's fields beside those its reader reads) added to ``view``,
        apart from its own text."""
        extra = self._view(texts)
        view.texts += [(0, f"\n{text}" if view.texts else text) for _, text in extra.texts]

    def _message_start(self, data: dict[str, Any]) -> EventView:
        if not isinstance(data.get("message"), dict):  # no Message: whatever it is, read
            return self._view(record_texts(data))
        message = _dict(data.get("message"))
        if isinstance(message.get("id"), str):
            self.message_id = message["id"]
        model = message.get("model") if isinstance(message.get("model"), str) else None
        self.model = model or self.model
        self._count(message.get("usage"))
        self._log("message", 0)
        content = message.get("content")  # [] from Anthropic; scored if a server fills it
        texts = [t for _, t in answer_block_texts(content)] if content else []
        view = self._view(texts + message_extras(message))
        view.model = model
        return view

    def _block_start(self, data: dict[str, Any]) -> EventView:
        if _is_int(data.get("index")):
            self._log("start", data["index"])
        self.separate = self.emitted
        texts = answer_block_texts(data.get("content_block"))
        return self._view([text for _, text in texts])

    def _block_delta(self, data: dict[str, Any]) -> EventView:
        return self._view(record_texts(data.get("delta")))

    def _block_stop(self, data: dict[str, Any]) -> EventView:
        if _is_int(data.get("index")):
            self._log("stop", data["index"])
        return EventView()

    def _message_delta(self, data: dict[str, Any]) -> EventView:
        self._count(data.get("usage"))
        delta = data.get("delta")
        self.separate = self.emitted
        view = self._view(message_extras(delta) if isinstance(delta, dict)
                          else record_texts(delta))  # stop_details, stop_sequence...
        view.finished, view.ends = {0}, True
        return view

    def _nothing(self, data: dict[str, Any]) -> EventView:
        return EventView()

    def _end(self, data: dict[str, Any]) -> EventView:
        return EventView(finished={0}, ends=True)  # message_stop

    def _error(self, data: dict[str, Any]) -> EventView:
        """The error's strings are read: one can quote the answer (an upstream guard)."""
        view = self._view(record_texts(data.get("error")))
        view.finished, view.ends = {0}, True
        return view

    def _view(self, texts: list[str]) -> EventView:
        text = texts[0] if len(texts) == 1 else "\n".join(text for text in texts if text)
        if not text:
            return EventView()
        if self.separate:
            text, self.separate = "\n" + text, False
        self.emitted = True
        return EventView(texts=[(0, text)])

    def _log(self, what: str, index: int) -> None:
        self.structure.append((self.read_count - 1, what, index))

    def _seen(self, relayed: int | None) -> tuple[bool, set[int], int]:
        """Whether the client saw the message start, the blocks it saw open, the next
        block index: after the first ``relayed`` events (all events read when None)."""
        started, open_blocks, next_index = False, set(), 0
        for ordinal, what, index in self.structure:
            if relayed is not None and ordinal >= relayed:
                break
            started = started or what == "message"
            if what == "start":
                open_blocks.add(index)
                next_index = max(next_index, index + 1)
            elif what == "stop":
                open_blocks.discard(index)
        return started, open_blocks, next_index

    def _count(self, usage: Any) -> None:
        tokens = _dict(usage).get("output_tokens")
        if _is_int(tokens):
            self.output_tokens = tokens

    def broken(self, message: str) -> bytes:
        """The API's ``error`` event (an ``api_error``), as Anthropic sends mid-stream."""
        return encode_events([{"type": "error", "error": {"type": "api_error",
                                                          "message": message}}])

    def cut(self, open_outputs: Sequence[int], safety: dict[str, Any],
            refusal_text: str | None, *, relayed: int | None = None) -> bytes:
        """Starts the message if the client has not seen it start, closes the blocks it
        saw open, adds the refusal block when given, then ends the message with
        ``stop_reason: refusal`` and ``safety`` on the ``message_delta``. ``relayed``: how
        many of the events read reached the client (a relay sends a prefix of them);
        None: all of them."""
        started, open_blocks, next_index = self._seen(relayed)
        events: list[dict[str, Any]] = [] if started else [{
            "type": "message_start",
            "message": new_message(self.message_id, self.model, [], None)}]
        events += [{"type": "content_block_stop", "index": i} for i in sorted(open_blocks)]
        if refusal_text is not None:
            events += refusal_block(next_index, refusal_text)
        events.append({"type": "message_delta", "delta": {
            "stop_reason": "refusal", "stop_sequence": None, "stop_details": refusal_details()},
            "usage": {"output_tokens": self.output_tokens}, "safety": safety})
        events.append({"type": "message_stop"})
        return encode_events(events)


def message_extras(message: dict[str, Any]) -> list[str]:
    """The strings of a Message object (or a ``message_delta``'s delta) outside
    ``MESSAGE_FIELDS``, after its ``stop_details``' (its refusal explanation; the whole
    value when it is no object)."""
    details = message.get("stop_details")
    explained = unknown_field_texts(details, _DETAILS_ENUMS) if isinstance(details, dict) else []
    return explained + unknown_field_texts(message, MESSAGE_FIELDS, {"stop_details": dict})


_READERS = {
    "message_start": MessagesStream._message_start,
    "content_block_start": MessagesStream._block_start,
    "content_block_delta": MessagesStream._block_delta,
    "content_block_stop": MessagesStream._block_stop,
    "message_delta": MessagesStream._message_delta,
    "message_stop": MessagesStream._end,
    "error": MessagesStream._error,
    "ping": MessagesStream._nothing,
}
