"""The demo model's answers in Anthropic's Messages wire format, whole and streamed.

A streamed answer is a list of writes, as in ``openai_wire``: the opening events, one
``text_delta`` per piece of ``answer_pieces``, then the closing events; each event is named
(``event:``) by its ``type``.
"""

from __future__ import annotations

from typing import Any

import orjson

from proxy.demo.answers import Ask, answer_pieces
from proxy.protocol import sse

INPUT_TOKENS = 10


def message(ask: Ask) -> dict[str, Any]:
    """A ``message`` with one text block, ``stop_reason: end_turn`` and usage."""
    return {"id": "msg_demo", "type": "message", "role": "assistant", "model": ask.model,
            "content": [{"type": "text", "text": ask.answer}], "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": INPUT_TOKENS, "output_tokens": ask.words}}


def message_stream(ask: Ask) -> list[bytes]:
    """``message_start``, ``content_block_start``, a ``content_block_delta`` per piece, then
    ``content_block_stop``, ``message_delta`` (``end_turn``, usage) and ``message_stop``."""
    opening = {**message(ask), "content": [], "stop_reason": None,
               "usage": {"input_tokens": INPUT_TOKENS, "output_tokens": 1}}
    head: list[dict[str, Any]] = [
        {"type": "message_start", "message": opening},
        {"type": "content_block_start", "index": 0,
         "content_block": {"type": "text", "text": ""}}]
    deltas = [[{"type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": piece}}]
              for piece in answer_pieces(ask.answer)]
    tail: list[dict[str, Any]] = [
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
         "usage": {"output_tokens": ask.words}},
        {"type": "message_stop"}]
    return [_named(events) for events in (head, *deltas, tail)]


def _named(events: list[dict[str, Any]]) -> bytes:
    return b"".join(sse.encode(orjson.dumps(event), event["type"]) for event in events)


def error(message_text: str) -> dict[str, Any]:
    """Anthropic's error body for a request the demo cannot read."""
    return {"type": "error", "error": {"type": "invalid_request_error", "message": message_text}}
