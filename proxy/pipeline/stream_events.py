"""Reads what the relay needs from one streamed chunk's JSON, tolerating odd shapes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson


@dataclass(slots=True)
class ChunkView:
    texts: list[tuple[int, str]] = field(default_factory=list)  # (choice index, delta text)
    finished: set[int] = field(default_factory=set)  # choices whose finish_reason is set
    model: str | None = None


def parse_chunk(data: str) -> ChunkView:
    """Unparseable or unexpected chunks yield an empty view: relayed, not scored."""
    view = ChunkView()
    try:
        chunk = orjson.loads(data)
    except orjson.JSONDecodeError:
        return view
    if not isinstance(chunk, dict):
        return view
    if isinstance(chunk.get("model"), str):
        view.model = chunk["model"]
    for position, choice in enumerate(chunk.get("choices") or ()):
        if isinstance(choice, dict):
            _read_choice(view, choice.get("index", position), choice)
    return view


def _read_choice(view: ChunkView, index: Any, choice: dict[str, Any]) -> None:
    if not isinstance(index, int):
        return
    delta = choice.get("delta")
    if isinstance(delta, dict):
        content = delta.get("content")
        if isinstance(content, str) and content:
            view.texts.append((index, content))
        for call in delta.get("tool_calls") or ():
            function = call.get("function") if isinstance(call, dict) else None
            arguments = function.get("arguments") if isinstance(function, dict) else None
            if isinstance(arguments, str) and arguments:
                view.texts.append((index, arguments))
    if choice.get("finish_reason"):
        view.finished.add(index)
