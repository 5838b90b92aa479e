"""How a decision looks to a client: the ``safety`` object, blocked answers, refusals.

One contract everywhere (see DESIGN.md): input blocked -> 400 ``content_filter`` envelope
(or a 200 refusal completion); output blocked -> the choice's content replaced by the
refusal text with ``finish_reason: content_filter``; every response has
``x-safety-decision`` and ``x-request-id``.
"""

from __future__ import annotations

import time
from typing import Any

from proxy.pipeline.decision import Decision
from proxy.protocol.errors import error_envelope

DECISION_HEADER = "x-safety-decision"


def safety_object(direction: str, decision: Decision) -> dict[str, Any]:
    return {"direction": direction, "decision": decision.action,
            "reasons": [reason.as_dict() for reason in decision.reasons]}


def input_blocked_envelope(decision: Decision) -> dict[str, Any]:
    body = error_envelope(
        "The request was blocked by the content filter.",
        "invalid_request_error", param="messages", code="content_filter")
    body["safety"] = safety_object("input", decision)
    return body


def refusal_completion(request_id: str, model: str | None, refusal_text: str,
                       safety: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{request_id}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model or "unknown",
        "choices": [{"index": 0, "finish_reason": "content_filter", "logprobs": None,
                     "message": {"role": "assistant", "content": refusal_text}}],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        "safety": safety,
    }


def refusal_chunks(request_id: str, model: str | None, refusal_text: str,
                   safety: dict[str, Any]) -> list[dict[str, Any]]:
    """A whole streamed refusal: the text, then the content_filter finish."""
    first = stream_chunk(request_id, model, 0, {"role": "assistant", "content": refusal_text})
    return [first, cut_chunk(request_id, model, [0], safety)]


def stream_chunk(request_id: str, model: str | None, index: int, delta: dict[str, Any],
                 finish_reason: str | None = None) -> dict[str, Any]:
    return {"id": f"chatcmpl-{request_id}", "object": "chat.completion.chunk",
            "created": int(time.time()), "model": model or "unknown",
            "choices": [{"index": index, "delta": delta, "finish_reason": finish_reason,
                         "logprobs": None}]}


def cut_chunk(request_id: str, model: str | None, indices: list[int],
              safety: dict[str, Any]) -> dict[str, Any]:
    """The last chunk of a cut stream: content_filter on every choice still open."""
    chunk = stream_chunk(request_id, model, 0, {}, "content_filter")
    chunk["choices"] = [{"index": i, "delta": {}, "finish_reason": "content_filter",
                         "logprobs": None} for i in indices or [0]]
    chunk["safety"] = safety
    return chunk


def block_choices(body: dict[str, Any], indices: set[int], refusal_text: str) -> None:
    """Replaces the content of the blocked choices in a non-streamed answer, in place."""
    for choice in body.get("choices") or ():
        if isinstance(choice, dict) and choice.get("index") in indices:
            choice["message"] = {"role": "assistant", "content": refusal_text}
            choice["finish_reason"] = "content_filter"
