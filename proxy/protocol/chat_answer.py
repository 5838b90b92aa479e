"""The Chat Completions dialect, answer side: the texts of a completion (whole or
streamed) and how a blocked answer looks.

An answer's texts, per choice: message content (string or parts), refusal, reasoning
(``reasoning_content`` / ``reasoning``), tool-call and function-call arguments and names,
the audio transcript, and any other string field of the message or of the choice (a vendor
extension); beside the choices, the answer's ``error`` and vendor fields
(``fields.completion_extras``), read with choice 0. Streamed deltas carry the same fields;
both paths share one reader, so a streamed answer and a whole one are scored on the same
texts (a message in a stream's chunk, or a delta in a whole answer, is read too; so is an
``index``, ``finish_reason``, ``logprobs`` or ``content_filter_results`` of another shape
than the API's); and the texts a choice's log-probabilities spell (``logprobs.py``). A
blocked choice is replaced whole: nothing of it (log-probabilities, a vendor's fields)
reaches the client, nor the answer's vendor fields.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from proxy.protocol import sse
from proxy.protocol.dialect import AnswerText, EventView
from proxy.protocol.fields import (
    CHOICE_SHAPES,
    COMPLETION_FIELDS,
    completion_extras,
    plain_place,
    string_leaves,
    unknown_field_texts,
)
from proxy.protocol.logprobs import LOGPROBS_KIND, alternatives
from proxy.protocol.media import is_inline_clip
from proxy.protocol.safety import (
    block_extras,
    broken_chunk_stream,
    cut_chunk,
    replace_blocked_choices,
    stream_chunk,
)

ANSWER_KINDS = frozenset({
    "content", "refusal", "reasoning", "tool_call", "audio.transcript", "extension",
    LOGPROBS_KIND,
})
STREAM_EVENTS = frozenset({"chat.completion.chunk"})
_KIND_OF = {"content": "content", "refusal": "refusal", "reasoning_content": "reasoning",
            "reasoning": "reasoning", "tool_calls": "tool_call", "function_call": "tool_call",
            "audio": "audio.transcript"}
_NOT_TEXT = frozenset({"role"})  # annotations (web citations: titles, URLs) are read
_CALL_IDS = frozenset({"id", "type", "index"})  # a tool call's keys that hold no text
# A choice's fields read apart or holding no answer text of their own: the message or delta,
# its place, why it ended, log-probabilities (read apart: logprobs.py) and Azure's
# content-filter verdicts. Any other field is a vendor's: scored as an extension.
_CHOICE_FIELDS = frozenset({"index", "message", "delta", "finish_reason", "logprobs",
                            "content_filter_results"})
# In another shape, read as an extension (text where a number or a reason belongs too).
_SHAPES = {"message": dict, "delta": dict, **CHOICE_SHAPES}
# The fields of a streamed choice that plain_chunk_view reads (a message beside the delta is
# the general reader's), and the delta fields whose value message_texts reads apart.
_PLAIN_CHOICE = _CHOICE_FIELDS - {"message"}
_READ_APART = frozenset({"audio", "tool_calls", "function_call"})


def message_texts(message: dict[str, Any]) -> list[tuple[str, str]]:
    """(kind, text) for every text of one answer message or stream delta."""
    texts: list[tuple[str, str]] = []
    for key, value in message.items():
        if key in _NOT_TEXT:
            continue
        if key == "audio":
            value = value.get("transcript") if isinstance(value, dict) else None
        elif key in ("tool_calls", "function_call"):
            value = _call_texts(value)
        kind = _KIND_OF.get(key, "extension")
        if isinstance(value, str):  # most deltas: one string, nothing to walk
            if value:
                texts.append((kind, value))
        else:
            texts.extend((kind, text) for _, text in string_leaves(value, (key,)))
    return texts


def _call_texts(value: Any) -> list[str]:
    """Every string of the tool calls (names, arguments, a vendor's fields) but their ids
    and types, which no one reads."""
    calls = value if isinstance(value, list) else [value]
    return [text for call in calls if isinstance(call, dict)
            for _, text in string_leaves({k: v for k, v in call.items()
                                          if k not in _CALL_IDS}, ())]


def answer_texts(body: dict[str, Any]) -> list[AnswerText]:
    texts: list[AnswerText] = []
    for position, choice in enumerate(_choices(body)):
        index = _index(choice, position)
        delta = choice.get("delta")  # a stream's delta in a whole answer: read as a message
        if isinstance(delta, dict):
            texts += [AnswerText(index, kind, text) for kind, text in message_texts(delta)]
        message = choice.get("message")
        if isinstance(message, dict):
            texts += [AnswerText(index, kind, text) for kind, text in message_texts(message)]
            spoken = message.get("audio")
            if isinstance(spoken, dict) and is_inline_clip(spoken.get("data") or ""):
                # a whole clip (a file format, not raw PCM): the pipeline hears it
                # (output_checks.hear_clips), for a server's transcript may be missing
                texts.append(AnswerText(index, "audio.transcript", spoken["data"]))
        # a completions-style "text" beside the message, vLLM's stop_reason, ...
        texts += [AnswerText(index, "extension", text)
                  for text in unknown_field_texts(choice, _CHOICE_FIELDS, _SHAPES)]
        texts += [AnswerText(index, LOGPROBS_KIND, text)
                  for _, text in alternatives(choice.get("logprobs"))]
    return texts + [AnswerText(0, "extension", text) for text in completion_extras(body)]


def block_answer(body: dict[str, Any], blocked: set[int], refusal_text: str,
                 safety: dict[str, Any]) -> None:
    """Each blocked choice replaced whole: the refusal as its message, ``finish_reason:
    content_filter``, no log-probabilities, tool calls or vendor fields; a blocked output
    no choice object carries (text read from a misshapen ``choices``) gets one."""
    block_extras(body, refusal_text, safety)  # first: only the choice objects stay
    choices = body.get("choices")
    if isinstance(choices, list):  # objects only by now: positions as _choices counts them
        replace_blocked_choices(choices, blocked, _index,
                                lambda index: _refusal_choice(index, refusal_text))
    body["safety"] = safety


def _refusal_choice(index: int, refusal_text: str) -> dict[str, Any]:
    return {"index": index, "message": {"role": "assistant", "content": refusal_text},
            "finish_reason": "content_filter", "logprobs": None}


class ChatStreamCodec:
    def __init__(self, request_id: str, model: str | None) -> None:
        self.request_id = request_id
        self.model = model
        self.usage: dict[str, Any] | None = None  # the usage chunk, once read
        self.extras_seen: set[str] = set()  # the error and vendor texts read so far

    def read(self, event: sse.SSEEvent) -> EventView:
        if event.is_done:
            return EventView(ends=True)
        chunk = event.json_object()
        if chunk is None:
            return EventView(texts=[(0, text) for text in event.unparsed_texts()])
        view = plain_chunk_view(chunk)
        if view is None:
            view = self._view(chunk)
        if view.model and not self.model:
            self.model = view.model
        return view

    def _view(self, chunk: dict[str, Any]) -> EventView:
        """Any chunk's view: every field read (the reader ``plain_chunk_view`` stands in
        for on the usual chunk)."""
        model = chunk.get("model")
        view = EventView(model=model if isinstance(model, str) else None)
        choices = _choices(chunk)
        for position, choice in enumerate(choices):
            _read_choice(view, _index(choice, position), choice)
        if not choices and "usage" in chunk:
            self.usage = chunk  # it follows every finish: held, and kept last on a cut
        view.texts += [(0, text) for text in completion_extras(chunk, self.extras_seen)]
        view.ends = bool(view.finished) or self.usage is chunk
        return view

    def cut(self, open_outputs: Sequence[int], safety: dict[str, Any],
            refusal_text: str | None, *, relayed: int | None = None) -> bytes:
        """The refusal text on the lowest open choice (when given), then a chunk closing
        every open choice with ``content_filter``, the usage chunk when the upstream sent
        one (the whole answer was read), then ``[DONE]``. Chunks need no opening event, so
        ``relayed`` changes nothing here."""
        events = []
        if refusal_text is not None:
            events.append(stream_chunk(self.request_id, self.model, min(open_outputs or [0]),
                                       {"role": "assistant", "content": refusal_text}))
        events.append(cut_chunk(self.request_id, self.model, list(open_outputs), safety))
        if self.usage is not None:  # read before the cut: the client still gets its usage
            events.append(self.usage)
        return b"".join(sse.encode(orjson.dumps(e)) for e in events) + sse.DONE_EVENT


    def broken(self, message: str) -> bytes:
        return broken_chunk_stream(message)


def plain_chunk_view(chunk: dict[str, Any]) -> EventView | None:
    """The view of the usual stream chunk, read in one pass: choices of only ``_PLAIN_CHOICE``
    fields, no log-probabilities, each delta's fields strings or null (``role`` whatever it
    is), no field beside the choices that holds answer text. None for any other chunk, which
    ``ChatStreamCodec._view`` reads; on the chunks this reads, the two views are equal
    (tests/proxy/protocol/test_chat_answer.py compares them on generated chunks). A chunk,
    parsed and read, costs 2.7 us here against 4.0 through the general reader (timeit): a
    streamed answer is mostly such chunks, about one per token."""
    choices = chunk.get("choices")
    if type(choices) is not list or not choices or not COMPLETION_FIELDS.issuperset(chunk):
        return None  # no choices: usage, or the general reader's business
    model = chunk.get("model")
    view = EventView(model=model if type(model) is str else None)
    for position, choice in enumerate(choices):
        if not _read_plain_choice(view, position, choice):
            return None
    view.ends = bool(view.finished)
    return view


def _read_plain_choice(view: EventView, position: int, choice: Any) -> bool:
    """``_read_choice`` for a plain choice (``plain_chunk_view``); False for any other."""
    if type(choice) is not dict or not _PLAIN_CHOICE.issuperset(choice):
        return False
    delta, index = choice.get("delta"), plain_place(choice, position)
    if type(delta) is not dict or index is None:
        return False
    for key, value in delta.items():
        if key in _NOT_TEXT or value is None:
            continue
        if type(value) is not str or key in _READ_APART:
            return False
        if value:
            view.texts.append((index, value))
    if choice.get("finish_reason"):
        view.finished.add(index)
    return True


def _read_choice(view: EventView, index: int, choice: dict[str, Any]) -> None:
    for key in ("delta", "message"):  # a whole message in a chunk: read as a delta
        message = choice.get(key)
        if isinstance(message, dict):
            view.texts += [(index, text) for _, text in message_texts(message)]
    view.texts += [(index, text) for text in unknown_field_texts(choice, _CHOICE_FIELDS,
                                                                 _SHAPES)]
    if choice.get("logprobs"):
        view.alternatives += [(index, rank, text)
                              for rank, text in alternatives(choice["logprobs"])]
    if choice.get("finish_reason"):
        view.finished.add(index)


def _choices(body: dict[str, Any]) -> list[dict[str, Any]]:
    choices = body.get("choices")
    return [c for c in choices if isinstance(c, dict)] if isinstance(choices, list) else []


def _index(choice: dict[str, Any], position: int) -> int:
    index = choice.get("index", position)
    return index if isinstance(index, int) and not isinstance(index, bool) else position
