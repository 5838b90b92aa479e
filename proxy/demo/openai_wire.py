"""The demo model's answers in OpenAI's wire formats: Chat Completions, legacy Completions
and Responses, whole and streamed.

A streamed answer is a list of *writes* (SSE bytes): the opening events, one write per piece
of ``answer_pieces``, then the closing events. The server pauses between writes
(``delay_ms``), so every API streams at the same pace.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from proxy.demo.answers import Ask, answer_pieces
from proxy.protocol import sse

PROMPT_TOKENS = 10  # the demo does not tokenize; usage is a plausible constant plus words
MESSAGE_ID = "msg_demo"
Event = dict[str, Any]


def _usage(ask: Ask) -> dict[str, int]:
    return {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": ask.words,
            "total_tokens": PROMPT_TOKENS + ask.words}


def chat_completion(ask: Ask) -> dict[str, Any]:
    return {"id": "chatcmpl-demo", "object": "chat.completion", "created": int(time.time()),
            "model": ask.model,
            "choices": [{"index": i, "message": {"role": "assistant", "content": ask.answer},
                         "finish_reason": "stop", "logprobs": None}
                        for i in range(ask.choices)],
            "usage": _usage(ask)}


def _chat_chunk(ask: Ask, delta: dict[str, Any], finish: str | None) -> bytes:
    """One ``chat.completion.chunk`` event per choice, all carrying ``delta``."""
    return b"".join(sse.encode(orjson.dumps({
        "id": "chatcmpl-demo", "object": "chat.completion.chunk", "created": int(time.time()),
        "model": ask.model, "choices": [{"index": i, "delta": delta, "finish_reason": finish,
                                         "logprobs": None}]})) for i in range(ask.choices))


def chat_stream(ask: Ask) -> list[bytes]:
    """The role chunk, a content chunk per piece, the ``stop`` chunk, then ``[DONE]``."""
    return [_chat_chunk(ask, {"role": "assistant", "content": ""}, None),
            *(_chat_chunk(ask, {"content": piece}, None) for piece in answer_pieces(ask.answer)),
            _chat_chunk(ask, {}, "stop") + sse.DONE_EVENT]


def text_completion(ask: Ask) -> dict[str, Any]:
    return {"id": "cmpl-demo", "object": "text_completion", "created": int(time.time()),
            "model": ask.model,
            "choices": [{"text": ask.answer, "index": i, "logprobs": None,
                         "finish_reason": "stop"} for i in range(ask.choices)],
            "usage": _usage(ask)}


def _completion_chunk(ask: Ask, text: str, finish: str | None) -> bytes:
    return b"".join(sse.encode(orjson.dumps({
        "id": "cmpl-demo", "object": "text_completion", "created": int(time.time()),
        "model": ask.model, "choices": [{"text": text, "index": i, "logprobs": None,
                                         "finish_reason": finish}]}))
        for i in range(ask.choices))


def completion_stream(ask: Ask) -> list[bytes]:
    """A ``text_completion`` chunk per piece, one with ``finish_reason: stop``, ``[DONE]``."""
    return [*(_completion_chunk(ask, piece, None) for piece in answer_pieces(ask.answer)),
            _completion_chunk(ask, "", "stop") + sse.DONE_EVENT]


def _output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _message_item(text: str, status: str) -> dict[str, Any]:
    return {"id": MESSAGE_ID, "type": "message", "status": status, "role": "assistant",
            "content": [_output_text(text)] if text else []}


def response(ask: Ask, status: str = "completed") -> dict[str, Any]:
    """A Responses ``response`` object: one assistant message of one ``output_text``;
    in progress, it has no output and no usage yet."""
    done = status == "completed"
    return {"id": "resp_demo", "object": "response", "created_at": int(time.time()),
            "status": status, "error": None, "incomplete_details": None, "instructions": None,
            "max_output_tokens": None, "model": ask.model,
            "output": [_message_item(ask.answer, "completed")] if done else [],
            "parallel_tool_calls": True, "previous_response_id": None,
            "reasoning": {"effort": None, "summary": None}, "store": False,
            "temperature": 1.0, "text": {"format": {"type": "text"}}, "tool_choice": "auto",
            "tools": [], "top_p": 1.0, "truncation": "disabled", "metadata": {},
            "usage": {"input_tokens": PROMPT_TOKENS,
                      "input_tokens_details": {"cached_tokens": 0},
                      "output_tokens": ask.words,
                      "output_tokens_details": {"reasoning_tokens": 0},
                      "total_tokens": PROMPT_TOKENS + ask.words} if done else None}


def response_stream(ask: Ask) -> list[bytes]:
    """``response.created``, ``in_progress``, the item and its part added, an
    ``output_text.delta`` per piece, then text, part and item done and
    ``response.completed``: each event named by its type and numbered in order."""
    where: Event = {"item_id": MESSAGE_ID, "output_index": 0, "content_index": 0}
    opening = response(ask, "in_progress")
    head: list[Event] = [
        {"type": "response.created", "response": opening},
        {"type": "response.in_progress", "response": opening},
        {"type": "response.output_item.added", "output_index": 0,
         "item": _message_item("", "in_progress")},
        {"type": "response.content_part.added", **where, "part": _output_text("")}]
    deltas = [[{"type": "response.output_text.delta", **where, "delta": piece, "logprobs": []}]
              for piece in answer_pieces(ask.answer)]
    tail: list[Event] = [
        {"type": "response.output_text.done", **where, "text": ask.answer, "logprobs": []},
        {"type": "response.content_part.done", **where, "part": _output_text(ask.answer)},
        {"type": "response.output_item.done", "output_index": 0,
         "item": _message_item(ask.answer, "completed")},
        {"type": "response.completed", "response": response(ask)}]
    return _numbered([head, *deltas, tail])


def _numbered(writes: list[list[Event]]) -> list[bytes]:
    """Each write's events as SSE, named by type, ``sequence_number`` rising from 0."""
    encoded, number = [], 0
    for events in writes:
        chunk = b""
        for event in events:
            chunk += sse.encode(orjson.dumps({**event, "sequence_number": number}),
                                event["type"])
            number += 1
        encoded.append(chunk)
    return encoded
