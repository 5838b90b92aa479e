"""Shared readers for the texts inside JSON bodies, used by every dialect.

``string_leaves`` walks a JSON value and yields every string in it with its path: how a
dialect scores what the model reads inside structured fields (tool-call arguments as
objects, JSON schemas of tools and response formats, fields a vendor added to the API).
Keys are yielded too, when ``keys`` is set: a schema's property names are read by the
model as much as its descriptions. A key's path ends in ``KEY``: keys are scored, never
rewritten by a redaction.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from proxy.protocol.dialect import KEY, JsonPath, ParsedRequest
from proxy.protocol.errors import BadRequest

MAX_DEPTH = 64  # deeper JSON than this is refused: no API nests that far on purpose


def string_leaves(value: Any, path: JsonPath, *, keys: bool = False,
                  depth: int = 0) -> Iterator[tuple[JsonPath, str]]:
    """(path, text) for every non-empty string in ``value``, depth first, in order."""
    if depth > MAX_DEPTH:
        raise BadRequest(f"{render(path)} is nested deeper than {MAX_DEPTH} levels",
                         param=render(path))
    if isinstance(value, str):
        if value:
            yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            if keys and key:
                yield (*path, key, KEY), key
            yield from string_leaves(item, (*path, key), keys=keys, depth=depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from string_leaves(item, (*path, index), keys=keys, depth=depth + 1)


def unknown_field_texts(value: dict[str, Any], known: frozenset[str],
                        shapes: Mapping[str, type] | None = None) -> list[str]:
    """Every non-empty string under ``value``'s fields other than ``known``: what a vendor
    added to an object of the API (vLLM's ``stop_reason`` on a choice), scored rather
    than relayed unread. ``shapes``: known fields that their reader reads only in this
    shape (a message object, a text string); in any other, their strings are read here."""
    if known.issuperset(value) and not (shapes and _misshapen(value, shapes)):
        return []  # the usual object (every stream chunk): nothing to walk
    return [text for key, item in value.items()
            if key not in known or (shapes and key in shapes and item is not None
                                    and not isinstance(item, shapes[key]))
            for _, text in string_leaves(item, (key,))]


def _misshapen(value: dict[str, Any], shapes: Mapping[str, type]) -> bool:
    for key, kind in shapes.items():
        item = value.get(key)
        if item is not None and not isinstance(item, kind):
            return True
    return False


def _all_objects(items: list[Any]) -> bool:
    for item in items:  # noqa: SIM110 (a loop: no generator made for every stream chunk)
        if not isinstance(item, dict):
            return False
    return True


# The top-level fields of an OpenAI completion object (Chat Completions or Completions, whole
# or a stream chunk) that hold no answer text or are read apart: ids, the choices, usage,
# Azure's prompt verdicts, vLLM's prompt log-probabilities (the prompt's own tokens, read on
# input). ``error`` is read (it can quote what the model wrote: an upstream guard's
# verdict). Any other field is a vendor's (Perplexity's ``citations`` and
# ``search_results``...): read too, and dropped from a blocked answer.
COMPLETION_FIELDS = frozenset({"id", "object", "created", "model", "choices", "usage",
                               "system_fingerprint", "service_tier", "prompt_filter_results",
                               "prompt_logprobs", "safety"})


_CHOICES_SHAPE = {"choices": list}

# A choice's fields that both OpenAI completion APIs define, in the shape they give them: in
# another, read as an extension (text where a number, a reason or an object belongs).
CHOICE_SHAPES: dict[str, type] = {"index": int, "finish_reason": str, "logprobs": dict,
                                  "content_filter_results": dict}


def plain_place(choice: dict[str, Any], position: int) -> int | None:
    """For a stream's one-pass readers: a choice's output index (its ``index``, or its
    ``position`` when that is absent, null or a bool) when the choice carries no
    log-probabilities and its ``CHOICE_SHAPES`` fields are in their shapes or null; None
    otherwise, for the general reader to read."""
    index, reason = choice.get("index"), choice.get("finish_reason")
    verdicts = choice.get("content_filter_results")
    if choice.get("logprobs") or not ((index is None or isinstance(index, int))
                                      and (reason is None or type(reason) is str)
                                      and (verdicts is None or type(verdicts) is dict)):
        return None
    return index if type(index) is int else position


def completion_extras(body: dict[str, Any], seen: set[str] | None = None) -> list[str]:
    """The strings of a completion's ``error`` object and vendor fields, and of choices
    the readers cannot read (``choices`` not a list, an entry not an object); scored with
    output 0. ``seen``: a stream's extras read so far, updated; a vendor may repeat its
    fields in every chunk, and each text is read once."""
    choices = body.get("choices")
    if COMPLETION_FIELDS.issuperset(body) and (
            choices is None or (isinstance(choices, list) and _all_objects(choices))):
        return []  # the usual completion or chunk: nothing else to read
    texts = unknown_field_texts(body, COMPLETION_FIELDS, _CHOICES_SHAPE)
    if isinstance(choices, list):
        texts += [text for choice in choices if not isinstance(choice, dict)
                  for _, text in string_leaves(choice, ("choices",))]
    if seen is None:
        return texts
    fresh = [text for text in dict.fromkeys(texts) if text not in seen]
    seen.update(fresh)
    return fresh


def whole_of(path: JsonPath) -> JsonPath:
    """What the text at ``path`` is a part of, as the model reads it: a content part's
    (``...content[j].text``, ``system[j].text``) its list, which the model reads as one text;
    any other text is a whole of its own."""
    if len(path) >= 2 and path[-1] == "text" and isinstance(path[-2], int):
        return path[:-2]
    return path


def render(path: JsonPath) -> str:
    """A path as a client reads it in an error's ``param``: ``messages[2].content[0]``."""
    out = ""
    for key in path:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out


def definition_text(value: Any, path: JsonPath) -> tuple[JsonPath, str] | None:
    """A definition (a tool, a function, a response format) as one text to score: its
    keys and string values, one per line. Definitions are scored whole, never rewritten:
    the path ends in ``KEY``."""
    lines = [text for _, text in string_leaves(value, path, keys=True)]
    return ((*path, KEY), "\n".join(lines)) if lines else None


def load_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object; BadRequest without echoing the body otherwise, and for a
    body nested deeper than MAX_DEPTH anywhere (fields no dialect reads included): the
    body is forwarded re-serialised, and a deep one must be refused before that."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("request body is not valid UTF-8") from None
        if "depth" in exc.msg:  # orjson refuses more than 1024 levels
            raise _too_deep() from None
        raise BadRequest(f"request body is not valid JSON: {exc.msg} (char {exc.pos})") from None
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    # Nesting needs at least as many brackets as levels: most bodies are cleared by the count.
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH and _deeper_than(body, MAX_DEPTH):
        raise _too_deep()
    return body


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests more than ``limit`` objects and arrays: level by level,
    with no recursion, visiting containers only."""
    level = [value]
    for _ in range(limit):
        below = []
        for node in level:
            for child in node.values() if type(node) is dict else node:
                if type(child) is dict or type(child) is list:
                    below.append(child)
        if not below:
            return False
        level = below
    return True


def _too_deep() -> BadRequest:
    return BadRequest(f"request body is nested deeper than {MAX_DEPTH} levels")


def request_of(body: dict[str, Any]) -> ParsedRequest:
    """A request's common fields, read the same way in every API: ``model`` (a string, or
    none) and ``stream`` (a boolean; null is unset; anything else is a 400)."""
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise BadRequest("'stream' must be a boolean", param="stream")
    model = body.get("model")
    return ParsedRequest(body, model=model if isinstance(model, str) else None,
                         stream=stream is True)


def required_list(body: dict[str, Any], key: str) -> list[Any]:
    """``body[key]`` as a non-empty array, or a 400 naming it."""
    value = body.get(key)
    if value is None:
        raise BadRequest(f"'{key}' is a required property", param=key)
    if not isinstance(value, list) or not value:
        raise BadRequest(f"'{key}' must be a non-empty array", param=key)
    return value
