"""How a decision looks to a client: the ``safety`` object, blocked answers, refusals.

One contract everywhere (README, "What a block looks to a client"): input blocked -> 400
``content_filter`` envelope (or a 200 refusal completion); output blocked -> the choice's
content replaced by the refusal text with ``finish_reason: content_filter``; every
response has ``x-safety-decision`` and ``x-request-id``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson

from proxy.protocol import sse
from proxy.protocol.errors import error_envelope
from proxy.protocol.fields import COMPLETION_FIELDS
from proxy.verdict import Decision

DECISION_HEADER = "x-safety-decision"


def safety_object(direction: str, decision: Decision) -> dict[str, Any]:
    return {"direction": direction, "decision": decision.action,
            "reasons": [reason.as_dict() for reason in decision.reasons]}


# Clients and gateways recognise a content-policy rejection by this phrase (LiteLLM maps
# it to ContentPolicyViolationError, so its content-policy fallbacks fire).
BLOCKED_MESSAGE = ("Your request was rejected as a result of the safety system: the content "
                   "filter blocked it ({reasons}).")


def blocked_message(safety: dict[str, Any]) -> str:
    """The block message, naming the check.label that blocked (never the text)."""
    names = sorted({f"{r['classifier']}.{r['label']}" for r in safety.get("reasons", ())
                    if r.get("action") == "block"})
    return BLOCKED_MESSAGE.format(reasons=", ".join(names) or "policy")


def input_blocked_envelope(safety: dict[str, Any], param: str) -> dict[str, Any]:
    """An OpenAI-style 400 for a blocked request: the reasons inside the error object (the
    SDKs expose ``error``), and beside it as before."""
    body = error_envelope(blocked_message(safety), "invalid_request_error", param=param,
                          code="content_filter")
    body["error"]["safety"] = safety
    body["safety"] = safety
    return body


def block_extras(body: dict[str, Any], refusal_text: str, safety: dict[str, Any]) -> None:
    """A blocked completion's top-level extras (fields.completion_extras): its ``error``
    object replaced by one carrying the refusal text, every vendor field dropped, and of
    its choices only the objects kept."""
    for key in [key for key in body if key not in COMPLETION_FIELDS and key != "error"]:
        del body[key]
    choices = body.get("choices")
    if "choices" in body:
        body["choices"] = [c for c in choices if isinstance(c, dict)
                           ] if isinstance(choices, list) else []
    if "error" in body:
        body["error"] = {**error_envelope(refusal_text, "upstream_error",
                                          code="content_filter")["error"], "safety": safety}


def replace_blocked_choices(choices: list[Any], blocked: set[int],
                            index_of: Callable[[Any, int], int | None],
                            refusal: Callable[[int], dict[str, Any]]) -> None:
    """Each choice whose output index (``index_of(choice, position)``) is blocked replaced
    whole by ``refusal(index)``; a blocked output no choice carries (text read from a
    misshapen ``choices``) gets one appended."""
    replaced = set()
    for position, choice in enumerate(choices):
        index = index_of(choice, position)
        if index is not None and index in blocked:
            choices[position] = refusal(index)
            replaced.add(index)
    choices += [refusal(index) for index in sorted(blocked - replaced)]


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


def refusal_stream(request_id: str, model: str | None, refusal_text: str,
                   safety: dict[str, Any]) -> bytes:
    """A whole streamed refusal: the text, then the content_filter finish, then [DONE]."""
    first = stream_chunk(request_id, model, 0, {"role": "assistant", "content": refusal_text})
    chunks = [first, cut_chunk(request_id, model, [0], safety)]
    return b"".join(sse.encode(orjson.dumps(chunk)) for chunk in chunks) + sse.DONE_EVENT


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


def broken_chunk_stream(message: str) -> bytes:
    """How an OpenAI chunk stream (chat, completions) says its upstream broke off: an
    error object as a data event, then ``[DONE]``."""
    error = error_envelope(message, "upstream_error", code="upstream_stream_broken")
    return sse.encode(orjson.dumps(error)) + sse.DONE_EVENT
