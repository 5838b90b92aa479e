"""Recorded traffic for ``replay``: one JSON object per line, in one of two shapes.

Chat requests, optionally with their answer::

    {"messages": [...], "answer": "..."}                     # or "response": "..."
    {"model": ..., "messages": [...], "response": {chat completion}}
    {"request": {body}, "response": {chat completion}}

Review-stream events (``safety-proxy events export``), labeled or not::

    {"request_id", "decision", "label"?, "text": {"input": [...], "output": [...]},
     "scores": {"input.<check>": {label: score}, ...}}

The input texts are those the proxy scores (message string contents and text parts); the
prompt is the last user message. An event exported without texts (``events.text: off``)
keeps its recorded scores, which both policies then decide on. ``texts`` is accepted as
a synonym of ``text``; ``label`` is optional everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from classifiers.base import Direction
from proxy.protocol.chat import DIALECT as CHAT
from proxy.protocol.errors import BadRequest
from proxy.tuning.files import DataError, RecordedScores, json_lines, label_value, recorded_scores

DIRECTIONS: tuple[Direction, ...] = ("input", "output")


@dataclass(frozen=True, slots=True)
class Record:
    where: str  # file:line, or the request id when there is one
    label: str | None = None
    texts: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # direction -> texts
    prompt: str | None = None
    recorded: Mapping[str, RecordedScores] = field(default_factory=dict)  # direction -> scores
    decision: str | None = None  # the live decision, for events
    tenant: str | None = None  # the tenant the event was decided for


def load_records(path: Path) -> list[Record]:
    records = [parse_record(row, where) for where, row in json_lines(path)]
    if not records:
        raise DataError(f"{path}: no records")
    return records


def is_traffic(row: dict[str, Any]) -> bool:
    """A chat request (bare or under ``request``) or a review event (it has ``scores``)."""
    return "messages" in row or isinstance(row.get("request"), dict) or "scores" in row


def parse_record(row: dict[str, Any], where: str) -> Record:
    label = label_value(row["label"]) if row.get("label") is not None else None
    request = row.get("request")
    body: dict[str, Any] = request if isinstance(request, dict) else row
    if "messages" in body:
        return _chat_record(body, row, where, label)
    if any(key in row for key in ("text", "texts", "scores")):
        return _event_record(row, where, label)
    raise DataError(f"{where}: neither a chat request (messages) nor a review event "
                    "(text or scores)")


# Keys of a traffic row beside the request's own fields (when it is not under "request").
_RECORD_KEYS = frozenset({"answer", "response", "label"})


def _chat_record(body: dict[str, Any], row: dict[str, Any], where: str,
                 label: str | None) -> Record:
    try:
        request = CHAT.parse_request(orjson.dumps(
            {key: value for key, value in body.items() if key not in _RECORD_KEYS}))
    except BadRequest as exc:
        raise DataError(f"{where}: {exc}") from None
    texts = {"input": tuple(field.text for field in request.texts),
             "output": _answer_texts(row.get("answer", row.get("response")), where)}
    return Record(where, label, texts, request.last_user_text())


def _answer_texts(answer: Any, where: str) -> tuple[str, ...]:
    if answer is None:
        return ()
    if isinstance(answer, str):
        return (answer,)
    choices = answer.get("choices") if isinstance(answer, dict) else None
    if not isinstance(choices, list):
        raise DataError(f"{where}: the answer must be a string or a chat completion")
    return tuple(text.text for text in CHAT.answer_texts(answer))


def _event_record(row: dict[str, Any], where: str, label: str | None) -> Record:
    shown = row.get("text", row.get("texts")) or {}
    if not isinstance(shown, dict):
        raise DataError(f"{where}: 'text' must map a direction to a list of texts")
    texts: dict[str, tuple[str, ...]] = {d: tuple(str(t) for t in shown.get(d) or ())
                                         for d in DIRECTIONS}
    recorded = recorded_scores(row)
    prompt = texts["input"][-1] if texts["input"] else None
    name = f"{where} ({row['request_id']})" if row.get("request_id") else where
    decision = row.get("decision") if row.get("decision") in ("allow", "flag", "block") else None
    tenant = row.get("tenant") if isinstance(row.get("tenant"), str) else None
    return Record(name, label, texts, prompt, recorded, decision, tenant)
