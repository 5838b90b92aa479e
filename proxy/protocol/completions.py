"""The legacy OpenAI Completions dialect (``POST /v1/completions``), sans-IO.

A request's model-readable texts are ``prompt`` (a string or a list of strings) and
``suffix``, both from the user. Token prompts (a list of ids, or a list of id lists) are
counted as unreadable: a text classifier cannot read tokens. An answer's texts are its
``choices[].text`` (with ``echo`` they include the prompt) and any string in a field of a
choice this module does not know (``extension``: vLLM's ``stop_reason``...) or of the
answer's own (``fields.completion_extras``); a blocked choice is replaced whole (its
log-probabilities repeat its text) and the answer's vendor fields are dropped. Streamed
and non-streamed answers share one ``text_completion`` shape; a stream ends with
``data: [DONE]``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, TypeGuard

import orjson

from proxy.protocol.dialect import AnswerText, EventView, ParsedRequest, TextField
from proxy.protocol.errors import BadRequest, ProxyError
from proxy.protocol.fields import (
    CHOICE_SHAPES,
    COMPLETION_FIELDS,
    completion_extras,
    load_object,
    plain_place,
    request_of,
    unknown_field_texts,
)
from proxy.protocol.logprobs import LOGPROBS_KIND, alternatives
from proxy.protocol.safety import (
    block_extras,
    broken_chunk_stream,
    input_blocked_envelope,
    replace_blocked_choices,
)
from proxy.protocol.sse import DONE_EVENT, SSEEvent, encode

REQUEST_KINDS = frozenset({"prompt", "suffix"})
ANSWER_KINDS = frozenset({"choice.text", "extension", LOGPROBS_KIND})
STREAM_EVENTS = frozenset({"text_completion"})  # the chunks' "object"; [DONE] only ends

# LiteLLM maps an error whose message contains this phrase to ContentPolicyViolationError.
CONTENT_FILTER = "content_filter"
# A choice's fields that hold no answer text of their own (``text`` is read apart; the
# log-probabilities' tokens repeat it); any other field is a vendor's, scored.
_CHOICE_FIELDS = frozenset({"index", "text", "finish_reason", "logprobs",
                            "content_filter_results"})
# In another shape, read as an extension (text where a number or a reason belongs too).
_SHAPES = {"text": str, **CHOICE_SHAPES}


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_tokens(value: Any) -> bool:
    return isinstance(value, list) and all(_is_int(token) for token in value)



def unknown_shape(request: ParsedRequest, param: str, forward_unknown: bool) -> None:
    if not forward_unknown:
        raise BadRequest(f"'{param}' has a shape this API does not accept", param=param)
    request.unknown += 1


def collect_prompt(request: ParsedRequest, prompt: Any, forward_unknown: bool,
                   key: str = "prompt") -> None:
    """``body[key]``, the prompt's shapes (also those of an embeddings ``input``): a
    string, a list of strings, token ids, a list of token lists, or null. Texts get the
    kind ``key``."""
    if isinstance(prompt, str):
        request.texts.append(TextField("user", key, (key,), prompt))
    elif prompt is None:
        return  # the SDK allows null: the model generates from the start of a document
    elif isinstance(prompt, list) and all(isinstance(item, str) for item in prompt):
        request.texts.extend(TextField("user", key, (key, i), text)
                             for i, text in enumerate(prompt))
        request.independent = len(prompt) > 1  # one completion (or embedding) per string
    elif _is_tokens(prompt):
        request.unreadable += 1  # ([] is taken as an empty list of strings above)
    elif isinstance(prompt, list) and all(_is_tokens(item) for item in prompt):
        request.unreadable += len(prompt)
    else:
        unknown_shape(request, key, forward_unknown)


def _collect_suffix(request: ParsedRequest, suffix: Any, forward_unknown: bool) -> None:
    if isinstance(suffix, str):
        request.texts.append(TextField("user", "suffix", ("suffix",), suffix))
    elif suffix is not None:
        unknown_shape(request, "suffix", forward_unknown)


def _choices(body: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    """(output index, choice) of every choice that is an object."""
    choices = body.get("choices")
    return [(index, c) for i, c in enumerate(choices)
            if (index := _output_index(c, i)) is not None] if isinstance(choices, list) else []


def plain_choices(chunk: dict[str, Any]) -> tuple[list[tuple[int, str]], set[int]] | None:
    """The texts and finished outputs of the usual stream chunk (choices of only
    ``_CHOICE_FIELDS``, each text a string or null, no log-probabilities, no field beside
    the choices that holds answer text), read in one pass; None for any other chunk.
    ``CompletionsStream._read_choices`` reads the same from it (tested on generated chunks):
    a streamed answer is mostly such chunks, about one per token."""
    choices = chunk.get("choices")
    if type(choices) is not list or not choices or not COMPLETION_FIELDS.issuperset(chunk):
        return None
    texts: list[tuple[int, str]] = []
    finished: set[int] = set()
    for position, choice in enumerate(choices):
        if type(choice) is not dict or not _CHOICE_FIELDS.issuperset(choice):
            return None
        text, index = choice.get("text"), plain_place(choice, position)
        if index is None or not (text is None or type(text) is str):
            return None  # the general reader reads it (as an extension when misshapen)
        if text:
            texts.append((index, text))
        if choice.get("finish_reason") is not None:
            finished.add(index)
    return texts, finished


def _output_index(choice: Any, position: int) -> int | None:
    """A choice's ``index``, else its position in the list; None when it is no object."""
    if not isinstance(choice, dict):
        return None
    return choice["index"] if _is_int(choice.get("index")) else position


def _completion(completion_id: str, created: int, model: str | None,
                choices: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": completion_id, "object": "text_completion", "created": created,
            "model": model or "unknown", "choices": choices}


def _choice(index: int, text: str, finish_reason: str | None) -> dict[str, Any]:
    return {"index": index, "text": text, "finish_reason": finish_reason, "logprobs": None}


def _sse(body: dict[str, Any]) -> bytes:
    return encode(orjson.dumps(body))


def _zero_usage() -> dict[str, int]:
    return {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


def _refusal(request: ParsedRequest, request_id: str, refusal_text: str,
             safety: dict[str, Any]) -> dict[str, Any] | bytes:
    """A whole answer of ``refusal_text``; streamed: the text, the content_filter finish
    (with ``safety``), the usage chunk when the request asked for it, then ``[DONE]``."""
    def completion(choices: list[dict[str, Any]]) -> dict[str, Any]:
        return _completion(f"cmpl-{request_id}", int(time.time()), request.model, choices)

    if not request.stream:
        return completion([_choice(0, refusal_text, CONTENT_FILTER)]) | {
            "usage": _zero_usage(), "safety": safety}
    events = _sse(completion([_choice(0, refusal_text, None)]))
    events += _sse(completion([_choice(0, "", CONTENT_FILTER)]) | {"safety": safety})
    options = request.body.get("stream_options")
    if isinstance(options, dict) and options.get("include_usage") is True:
        events += _sse(completion([]) | {"usage": _zero_usage()})
    return events + DONE_EVENT


class CompletionsStream:
    """One stream's state: the id, model and created time upstream announced."""

    def __init__(self, request: ParsedRequest, request_id: str) -> None:
        self.id = f"cmpl-{request_id}"
        self.model = request.model
        self.created: int | None = None
        self.extras_seen: set[str] = set()  # the error and vendor texts read so far

    def read(self, event: SSEEvent) -> EventView:
        """Never raises: an event it cannot parse is relayed, its data read as text."""
        if event.is_done:
            return EventView(ends=True)
        chunk = event.json_object()
        if chunk is None:
            return EventView(texts=[(0, text) for text in event.unparsed_texts()])
        return self._view(chunk)

    def _view(self, chunk: dict[str, Any]) -> EventView:
        self._remember(chunk)
        view = EventView(model=self.model if isinstance(chunk.get("model"), str) else None)
        plain = plain_choices(chunk)
        if plain is None:
            self._read_choices(view, chunk)
        else:
            view.texts, view.finished = plain
            view.ends = bool(view.finished)
        return view

    def _read_choices(self, view: EventView, chunk: dict[str, Any]) -> None:
        """Any chunk's texts, alternatives and ends into ``view``: every field read."""
        for index, choice in _choices(chunk):
            text = choice.get("text")
            if isinstance(text, str) and text:
                view.texts.append((index, text))
            view.texts += [(index, t) for t in unknown_field_texts(choice, _CHOICE_FIELDS, _SHAPES)]
            if choice.get("logprobs"):
                view.alternatives += [(index, rank, text)
                                      for rank, text in alternatives(choice["logprobs"])]
            if choice.get("finish_reason") is not None:
                view.finished.add(index)
                view.ends = True
        view.texts += [(0, text) for text in completion_extras(chunk, self.extras_seen)]
        # The usage chunk (include_usage: no choices) follows every finish: it is the end.
        view.ends = view.ends or (chunk.get("choices") == [] and isinstance(
            chunk.get("usage"), dict))

    def _remember(self, chunk: dict[str, Any]) -> None:
        if isinstance(chunk.get("id"), str):
            self.id = chunk["id"]
        if isinstance(chunk.get("model"), str):
            self.model = chunk["model"]
        if _is_int(chunk.get("created")):
            self.created = chunk["created"]

    def broken(self, message: str) -> bytes:
        return broken_chunk_stream(message)

    def cut(self, open_outputs: Sequence[int], safety: dict[str, Any],
            refusal_text: str | None, *, relayed: int | None = None) -> bytes:
        """One chunk closing every open output with ``content_filter`` (the refusal text on
        the lowest open output when given), ``safety`` at the top level, then ``[DONE]``."""
        indices = sorted(set(open_outputs)) or [0]
        choices = [_choice(i, "", CONTENT_FILTER) for i in indices]
        if refusal_text is not None:
            choices[0]["text"] = refusal_text
        chunk = _completion(self.id, self.created or int(time.time()), self.model, choices)
        chunk["safety"] = safety
        return _sse(chunk) + DONE_EVENT


class CompletionsDialect:
    name = "completions"
    upstream_path = "completions"

    def parse_request(self, raw: bytes, *, forward_unknown: bool = False) -> ParsedRequest:
        """Raises BadRequest (with ``param``) on a body the API would reject."""
        body = load_object(raw)
        request = request_of(body)
        if "prompt" not in body:
            raise BadRequest("'prompt' is a required property", param="prompt")
        collect_prompt(request, body["prompt"], forward_unknown)
        _collect_suffix(request, body.get("suffix"), forward_unknown)
        return request

    def answer_texts(self, body: dict[str, Any]) -> list[AnswerText]:
        """Every non-empty ``choices[].text`` and vendor field string, keyed by the choice's
        index."""
        texts = []
        for index, choice in _choices(body):
            if isinstance(choice.get("text"), str) and choice["text"]:
                texts.append(AnswerText(index, "choice.text", choice["text"]))
            texts += [AnswerText(index, "extension", text)
                      for text in unknown_field_texts(choice, _CHOICE_FIELDS, _SHAPES)]
            texts += [AnswerText(index, LOGPROBS_KIND, text)
                      for _, text in alternatives(choice.get("logprobs"))]
        return texts + [AnswerText(0, "extension", text) for text in completion_extras(body)]

    def block_answer(self, body: dict[str, Any], blocked: set[int], refusal_text: str,
                     safety: dict[str, Any]) -> None:
        """Each blocked choice replaced whole: the refusal text, ``content_filter``, no
        logprobs (their tokens would repeat the blocked text) and no vendor fields."""
        block_extras(body, refusal_text, safety)  # first: only the choice objects stay
        choices = body.get("choices")
        if isinstance(choices, list):
            replace_blocked_choices(choices, blocked, _output_index,
                                    lambda index: _choice(index, refusal_text, CONTENT_FILTER))
        body["safety"] = safety

    def input_blocked(self, request: ParsedRequest, request_id: str, safety: dict[str, Any],
                      refusal_text: str, style: str) -> tuple[int, dict[str, Any] | bytes]:
        """``error`` (and any unknown style): 400 content_filter envelope, ``param`` prompt,
        ``safety`` inside the error object; ``refusal``: 200 and a refusal answer."""
        if style == "refusal":
            return 200, _refusal(request, request_id, refusal_text, safety)
        return 400, input_blocked_envelope(safety, param="prompt")

    def error_body(self, error: ProxyError) -> dict[str, Any]:
        return error.envelope()

    def stream(self, request: ParsedRequest, request_id: str) -> CompletionsStream:
        return CompletionsStream(request, request_id)


DIALECT = CompletionsDialect()
