"""What the upstream stored of an answer the proxy blocked (the Responses API keeps every
response unless ``store: false``, and a conversation keeps the output items added to it):
the parts routes/forget.py deletes, so that nobody can continue from a blocked answer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from proxy.protocol.responses_stream import ResponsesStream


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    response_id: str | None
    conversation_id: str | None = None
    item_ids: Sequence[str] = ()  # the output items the answer added to the conversation


def stored_answer(dialect: str, request: dict[str, Any],
                  response: dict[str, Any] | None) -> StoredAnswer | None:
    """What a whole answer (``response``, as the upstream sent it) left upstream; None for
    a dialect that stores nothing or a request that asked not to store it."""
    return _stored(request, response, ()) if dialect == "responses" else None


def stored_stream(request: dict[str, Any], codec: object) -> StoredAnswer | None:
    """What a cut stream left upstream, from what its codec read (the response announced
    or completed, the output items added)."""
    if not isinstance(codec, ResponsesStream):
        return None
    return _stored(request, codec.response, codec.item_ids)


def _stored(request: dict[str, Any], response: dict[str, Any] | None,
            item_ids: Sequence[str]) -> StoredAnswer | None:
    if request.get("store") is False:
        return None
    conversation = request.get("conversation")
    if isinstance(conversation, dict):
        conversation = conversation.get("id")
    response = response or {}
    output = response.get("output")
    items = [*item_ids, *(item["id"] for item in output if isinstance(item, dict)
                          and isinstance(item.get("id"), str))
             ] if isinstance(output, list) else list(item_ids)
    response_id = response.get("id")
    return StoredAnswer(response_id if isinstance(response_id, str) else None,
                        conversation if isinstance(conversation, str) else None,
                        list(dict.fromkeys(items)))
