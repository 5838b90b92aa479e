"""The Responses API stream, for the moderator: which events carry text, and the events that
end a stream the content filter stopped.

A Responses stream is SSE with ``event: <type>`` and a JSON ``data`` carrying ``type`` and a
rising ``sequence_number``. One response is one output (index 0) for the moderator, whatever
the events' own ``output_index``. Text comes from:

- delta events (``STREAMED_TEXT``, and any newer ``*.delta`` event but the audio bytes of
  ``response.audio.delta``): each delta, once, and the event's strings outside
  ``_DELTA_FIELDS`` (a vendor's field);
- ``response.content_part.added`` / ``reasoning_summary_part.added`` and
  ``response.shell_call_command.added``: an initial text, when not empty;
- ``response.output_item.added``: every text the item already holds (the fields that never
  stream as deltas: a function's name, web search queries, a patch's diff, an MCP call's
  output...; and any text a server sends whole here); ``.done``: its non-delta fields
  ``added`` had not shown, and its other texts when not part of what the stream showed;
- any other event (``response.output_text.annotation.added``'s citation, a newer or a
  vendor's event): its strings but its type and ids, when not part of what the stream
  showed (a partial image's base64 too: the pipeline reads the text in it).

Every other ``*.done`` event, ``output_item.done``'s streamed fields and the terminal
events' response repeat, whole, texts the deltas carried: they add only a text that is not
part of what the stream has shown so far (a server that sends the text only whole, or a
whole text that differs from its deltas, is scored, never relayed unread). So do the
strings of every event's response object outside ``RESPONSE_FIELDS`` (an error, a
vendor's field).
``response.completed`` / ``incomplete`` / ``failed`` and ``error`` end the stream.

Log-probabilities (logprobs.py) are read from the text deltas that carry them, rank by
rank (``EventView.alternatives``); when no delta carries any, from the whole items and
response that do.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import orjson

from proxy.protocol.dialect import AnswerText, EventView
from proxy.protocol.fields import string_leaves, unknown_field_texts
from proxy.protocol.logprobs import LOGPROBS_KIND, alternatives
from proxy.protocol.responses_walk import PART_NOT_TEXT, item_texts
from proxy.protocol.sse import SSEEvent, encode

STREAMED_TEXT = frozenset({
    "response.output_text.delta", "response.refusal.delta",
    "response.function_call_arguments.delta", "response.custom_tool_call_input.delta",
    "response.reasoning_summary_text.delta", "response.reasoning_text.delta",
    "response.audio.transcript.delta", "response.code_interpreter_call_code.delta",
    "response.mcp_call_arguments.delta", "response.shell_call_command.delta",
    "response.shell_call_output_content.delta",
})
ADDED_TEXT = frozenset({"response.content_part.added",
                        "response.reasoning_summary_part.added",
                        "response.shell_call_command.added"})
ITEM_EVENTS = frozenset({"response.output_item.added", "response.output_item.done"})
END_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed",
                        "error"})
NOT_TEXT_DELTAS = frozenset({"response.audio.delta"})  # base64 audio
# The fields of a ``*.done`` event (and of its ``part``) that repeat a streamed text.
DONE_FIELDS = ("text", "refusal", "arguments", "input", "code", "command", "transcript")
CONTENT_FILTER = {"reason": "content_filter"}
_EVENT_IDS = frozenset({"type", "item_id", "response_id", "id"})  # an event's non-text keys
# A delta event's fields read apart or holding no text: the delta, its log-probabilities,
# and the random characters OpenAI pads events with (``obfuscation``). Any other string is
# read too (a vendor's field; text where a number belongs).
_DELTA_FIELDS = _EVENT_IDS | {"delta", "logprobs", "obfuscation"}
_PLAIN_DELTA = _DELTA_FIELDS | {"output_index", "content_index", "sequence_number"}
# The same for the other events the readers know (numbers are never read as text).
_ADDED_FIELDS = _EVENT_IDS | {"part", "command", "obfuscation"}
_ITEM_FIELDS = _EVENT_IDS | {"item", "obfuscation"}
_ERROR_FIELDS = _EVENT_IDS | {"message", "code", "param", "obfuscation"}
_RESPONSE_EVENT_FIELDS = _EVENT_IDS | {"response", "obfuscation"}
_DONE_EVENT_FIELDS = _EVENT_IDS | {"part", "output", "logprobs", "obfuscation", *DONE_FIELDS}
# A response object's fields that hold no answer text, echo the request (checked as input)
# or are read apart (``output``). Any other string (an ``error``'s message, the
# ``output_text`` some servers add, a vendor's field) is read too, and a response the proxy
# stops keeps none of them.
RESPONSE_FIELDS = frozenset({
    "id", "object", "created_at", "completed_at", "status", "background", "billing",
    "conversation", "incomplete_details", "instructions", "max_output_tokens",
    "max_tool_calls", "metadata", "model", "output", "parallel_tool_calls",
    "previous_response_id", "prompt", "prompt_cache_key", "prompt_cache_retention",
    "reasoning", "safety_identifier", "service_tier", "store", "temperature", "text",
    "tool_choice", "tools", "top_logprobs", "top_p", "truncation", "usage", "user", "safety",
})


class ResponsesStream:
    """Per-stream state: the response announced at the start, the last sequence number and
    output index, and the non-delta texts each output item showed when added."""

    def __init__(self, request_id: str, model: str | None) -> None:
        self.request_id = request_id
        self.model = model
        self.response: dict[str, Any] | None = None
        self.last_sequence = -1
        self.last_output = -1
        self.shown: dict[int, Counter[str]] = {}
        self.item_ids: list[str] = []  # the output items announced, in order
        self.seen: list[str] = []  # every text read so far, in order
        self._seen_joined: str | None = ""  # "".join(seen), built when a check needs it
        self.streamed_alternatives = False  # some delta carried log-probabilities
        self.whole_alternatives: list[str] = []  # those of a whole item, for this event

    def read(self, event: SSEEvent) -> EventView:
        """Never raises: data that is not a JSON object is relayed, and read as text."""
        data = event.json_object()
        if data is None:
            texts = event.unparsed_texts()
            self.seen += texts
            self._seen_joined = None
            return EventView(texts=[(0, text) for text in texts])
        view = self._text_delta(data)
        return self._read(event, data) if view is None else view

    def _text_delta(self, data: dict[str, Any]) -> EventView | None:
        """The usual event, a text delta (``type`` in ``STREAMED_TEXT``, ``delta`` a string,
        no log-probabilities, no field but the API's, its places numbers, no whole item's
        log-probabilities waiting), read in one pass; None for any other. ``_read`` reads
        the same from it and leaves the same state (tested on generated events): a
        streamed answer is mostly such events, about one per token."""
        kind, delta = data.get("type"), data.get("delta")
        if (type(kind) is not str or kind not in STREAMED_TEXT or type(delta) is not str
                or data.get("logprobs") or self.whole_alternatives
                or not _PLAIN_DELTA.issuperset(data) or not _numbers(data)):
            return None
        if isinstance(data.get("sequence_number"), int):  # as _remember reads them
            self.last_sequence = max(self.last_sequence, data["sequence_number"])
        if isinstance(data.get("output_index"), int):
            self.last_output = max(self.last_output, data["output_index"])
        if not delta:
            return EventView()
        self.seen.append(delta)
        self._seen_joined = None
        return EventView([(0, delta)])

    def _read(self, event: SSEEvent, data: dict[str, Any]) -> EventView:
        """Any event's view: every field read."""
        view = EventView(model=self._remember(data))
        kind = data.get("type")
        kind = kind if isinstance(kind, str) else event.event
        view.texts = [(0, text) for text in self._texts(kind, data) if text]
        self._alternatives(view, data)
        if view.texts:
            self.seen += [text for _, text in view.texts]
            self._seen_joined = None
        if kind in END_EVENTS:
            view.ends, view.finished = True, {0}
        return view

    def _alternatives(self, view: EventView, data: dict[str, Any]) -> None:
        """What a delta's log-probabilities spell (logprobs.py), rank by rank; or those of
        a whole item or response read in this event."""
        if isinstance(data.get("delta"), str) and data.get("logprobs"):
            self.streamed_alternatives = True
            self.whole_alternatives.clear()
            view.alternatives = [(0, rank, text)
                                 for rank, text in alternatives(data["logprobs"])]
        elif self.whole_alternatives:
            view.alternatives = [(0, rank, text)
                                 for rank, text in enumerate(self.whole_alternatives)]
            self.whole_alternatives.clear()

    def _remember(self, data: dict[str, Any]) -> str | None:
        """Notes sequence, output index and response; returns the model the event tells."""
        if isinstance(data.get("sequence_number"), int):
            self.last_sequence = max(self.last_sequence, data["sequence_number"])
        if isinstance(data.get("output_index"), int):
            self.last_output = max(self.last_output, data["output_index"])
        response = data.get("response")
        if not isinstance(response, dict):
            return None
        self.response = response
        model = response.get("model")
        return model if isinstance(model, str) else None

    def _texts(self, kind: str | None, data: dict[str, Any]) -> list[str]:
        """The event's texts: what its type's reader reads, then the strings of its other
        fields (a vendor's; text where a number belongs) not part of what the stream
        showed."""
        texts, own = self._read_texts(kind, data)
        return texts + self._unseen(_strings(data, own)) if own is not None else texts

    def _read_texts(self, kind: str | None, data: dict[str, Any]
                    ) -> tuple[list[str], frozenset[str] | None]:
        """What the reader of ``kind`` reads, and the fields it reads or that hold no text
        (None: it read every string)."""
        if kind in STREAMED_TEXT or (isinstance(kind, str) and kind.endswith(".delta")
                                     and kind not in NOT_TEXT_DELTAS):
            return _delta_texts(data.get("delta")), _DELTA_FIELDS
        if kind in ADDED_TEXT:  # a part's initial text and any other key's, a shell command
            return (_strings(data.get("part"), PART_NOT_TEXT)
                    + _delta_texts(data.get("command"))), _ADDED_FIELDS
        if kind in ITEM_EVENTS:
            return (self._item_texts(data, done=kind == "response.output_item.done"),
                    _ITEM_FIELDS)
        if kind == "error":  # its message can quote the answer (an upstream guard)
            return [data["message"]] if isinstance(data.get("message"), str) else [], _ERROR_FIELDS
        response = data.get("response")
        if isinstance(response, dict):  # created, in_progress, ... and the end events
            output = response.get("output") if kind in END_EVENTS else None
            texts = self._apart([text for item in output for text in item_texts(item)]
                                ) if isinstance(output, list) else []
            # response.failed's error too
            return self._unseen(texts + response_extras(response)), _RESPONSE_EVENT_FIELDS
        if isinstance(kind, str) and kind.endswith(".done"):
            return self._unseen(_done_texts(data)), _DONE_EVENT_FIELDS
        if kind in NOT_TEXT_DELTAS:
            return [], _DELTA_FIELDS
        return self._unseen(_strings(data, _EVENT_IDS)), None  # annotation.added, a newer event

    def _unseen(self, texts: list[str]) -> list[str]:
        """The texts that are not part of what the stream showed so far."""
        if not texts:
            return []
        if self._seen_joined is None:
            self._seen_joined = "".join(self.seen)
        return [text for text in texts if text not in self._seen_joined]

    def _item_texts(self, data: dict[str, Any], done: bool) -> list[str]:
        """Non-delta texts of an output item; at ``done``, those ``added`` did not show."""
        item = data.get("item")
        if not isinstance(item, dict):
            return _delta_texts(item)  # no item object: whatever it holds
        if isinstance(item.get("id"), str) and item["id"] not in self.item_ids:
            self.item_ids.append(item["id"])
        # added: every text the item holds already (a server may send a message whole
        # here); done: its non-delta texts, then the rest when not shown
        texts = self._apart(item_texts(item, streamed=None if not done else False))
        index = data.get("output_index")
        shown = self.shown.setdefault(index if isinstance(index, int) else -1, Counter())
        if not done:
            shown.update(texts)
            return texts
        fresh = []
        for text in texts:
            if shown[text] > 0:
                shown[text] -= 1
            else:
                fresh.append(text)
        repeated = [text for text in self._apart(item_texts(item, streamed=True))
                    if text not in fresh]
        return fresh + self._unseen(repeated)

    def _apart(self, texts: list[AnswerText]) -> list[str]:
        """The texts of a whole item or output, its log-probabilities' texts kept apart:
        read when no delta carried log-probabilities (a server that sends them only
        whole), else they repeat what the deltas carried."""
        if not self.streamed_alternatives:
            self.whole_alternatives += [t.text for t in texts if t.kind == LOGPROBS_KIND]
        return [t.text for t in texts if t.kind != LOGPROBS_KIND]

    def broken(self, message: str) -> bytes:
        """The API's ``error`` event, numbered after the last event seen."""
        error = {"type": "error", "code": "upstream_stream_broken", "message": message,
                 "param": None}
        return encode_events([error], self.last_sequence + 1)

    def cut(self, open_outputs: Sequence[int], safety: dict[str, Any],
            refusal_text: str | None, *, relayed: int | None = None) -> bytes:
        """``response.incomplete`` (reason ``content_filter``, ``safety`` attached), numbered
        after the last event seen. A ``response.created`` first when the client saw no
        event yet (``relayed == 0``; with ``relayed`` unknown, when ``refusal_text`` says no
        text reached it), so it still sees a response begin; with ``refusal_text``, a
        message item carrying the text. ``open_outputs``: a response is one output, always
        closed here."""
        base = self.response or response_object(self.request_id, self.model)
        events, output = [], []
        if relayed == 0 or (relayed is None and refusal_text is not None):
            events.append({"type": "response.created", "response": in_progress(base)})
        if refusal_text is not None:
            message_id = f"msg_{self.request_id}"
            events += refusal_item_events(self.last_output + 1, message_id, refusal_text)
            output.append(refusal_message(message_id, refusal_text))
        response = stopped(base, output, safety)
        events.append({"type": "response.incomplete", "response": response})
        return encode_events(events, self.last_sequence + 1)


def _done_texts(data: dict[str, Any]) -> list[str]:
    """The texts a ``*.done`` event repeats: its text fields, its part's, a shell call's
    output."""
    part, output = data.get("part"), data.get("output")
    nodes = [data, *([part] if isinstance(part, dict) else [])]
    texts = [text for node in nodes for key in DONE_FIELDS
             for text in _delta_texts(node.get(key))]
    if not isinstance(part, dict):
        texts += _delta_texts(part)  # a part that is no object: whatever it holds
    return texts + _delta_texts(output)


def _strings(value: Any, skip: frozenset[str] = frozenset()) -> list[str]:
    """Every string of ``value`` but its types and the top-level keys in ``skip``: what a
    rule reads of a whole event (an annotation's title and URL, a partial image's base64,
    which the pipeline reads as the text in it; a newer event), a part, or a field of
    another shape than the API's."""
    if not isinstance(value, dict):
        return [text for path, text in string_leaves(value, ()) if not path or path[-1] != "type"]
    return [text for key, item in value.items() if key not in skip  # not walked at all
            for path, text in string_leaves(item, (key,), depth=1) if path[-1] != "type"]


def _numbers(data: dict[str, Any]) -> bool:
    """Whether a delta event's places are numbers (or absent), as the API writes them."""
    return (type(data.get("output_index", 0)) is int and type(data.get("content_index", 0)) is int
            and type(data.get("sequence_number", 0)) is int)


def _delta_texts(delta: Any) -> list[str]:
    """A delta's text; of anything else (a shell output's stdout and stderr, a misshapen
    delta or field), its strings (``_strings``)."""
    return [delta] if isinstance(delta, str) else _strings(delta)


def response_extras(response: dict[str, Any]) -> list[str]:
    """The strings of a response object outside ``RESPONSE_FIELDS``, and of an ``output``
    that is no list (the readers read a list of items)."""
    return unknown_field_texts(response, RESPONSE_FIELDS, {"output": list})


def response_object(request_id: str, model: str | None) -> dict[str, Any]:
    """A minimal in-progress response object, as ``response.created`` announces one."""
    return {"id": f"resp_{request_id}", "object": "response", "created_at": int(time.time()),
            "status": "in_progress", "error": None, "incomplete_details": None,
            "instructions": None, "metadata": {}, "model": model or "unknown", "output": [],
            "parallel_tool_calls": True, "temperature": None, "tool_choice": "auto",
            "tools": [], "top_p": None, "usage": None}


def _known(response: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in response.items() if key in RESPONSE_FIELDS}


def in_progress(response: dict[str, Any]) -> dict[str, Any]:
    return {**_known(response), "status": "in_progress", "output": [], "incomplete_details": None,
            "error": None}


def stopped(response: dict[str, Any], output: list[dict[str, Any]],
            safety: dict[str, Any]) -> dict[str, Any]:
    """``response`` stopped by the content filter, with ``output`` and ``safety``; no
    ``error`` (an upstream's can quote the answer), no field outside ``RESPONSE_FIELDS``."""
    return {**_known(response), "status": "incomplete", "incomplete_details": dict(CONTENT_FILTER),
            "error": None, "output": output, "safety": safety}


def output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def refusal_message(message_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    """An assistant message item whose one ``output_text`` part is ``text``."""
    return {"id": message_id, "type": "message", "role": "assistant", "status": status,
            "content": [output_text(text)] if text else []}


def refusal_item_events(output_index: int, message_id: str, text: str
                        ) -> list[dict[str, Any]]:
    """The events that stream one message item carrying ``text``, in the API's order."""
    where = {"item_id": message_id, "output_index": output_index, "content_index": 0}
    return [
        {"type": "response.output_item.added", "output_index": output_index,
         "item": refusal_message(message_id, "", "in_progress")},
        {"type": "response.content_part.added", **where, "part": output_text("")},
        {"type": "response.output_text.delta", **where, "delta": text, "logprobs": []},
        {"type": "response.output_text.done", **where, "text": text, "logprobs": []},
        {"type": "response.content_part.done", **where, "part": output_text(text)},
        {"type": "response.output_item.done", "output_index": output_index,
         "item": refusal_message(message_id, text)},
    ]


def encode_events(events: list[dict[str, Any]], first_sequence: int) -> bytes:
    """SSE bytes, each event named by its type and numbered from ``first_sequence``."""
    chunks = []
    for number, event in enumerate(events, start=first_sequence):
        event["sequence_number"] = number
        chunks.append(encode(orjson.dumps(event), event["type"]))
    return b"".join(chunks)
