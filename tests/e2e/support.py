"""Shared pieces of the SDK end-to-end tests: the words the scripted check reacts to, the
answers (clean, blocked late, blocked at once), the refusal-style config, and realistic
upstream payloads of each wire API, whole (JSON) and streamed (SSE events as the real API
sends them: ids, ``created``, ``usage``, event names, sequence numbers).

An ``answer(...)`` helper returns what ``FakeUpstream.answer`` needs: a callable that reads
the request body and answers JSON or a stream, as the request asked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest
from openai import AsyncOpenAI

from proxy.config.schema import PolicyConfig
from proxy.protocol import sse
from tests.conftest import proxy_config
from tests.support.upstream import Stream

BAD = "BADWORD"  # scores bad=1.0: blocked (threshold 0.9)
MEH = "MEHWORD"  # scores meh=0.6: flagged (threshold 0.5)
REFUSAL_TEXT = PolicyConfig.model_fields["refusal_text"].default
REJECTED = "request was rejected as a result of the safety system"
BAD_REASON = {"classifier": "script", "label": "bad", "score": 1.0, "threshold": 0.9,
              "action": "block"}

# Ten clean deltas of 20 characters: five 40-character windows, all released before BAD.
CLEAN = [f"part {i:02d} reads fine. " for i in range(10)]
BAD_LATE = [*CLEAN, f"then {BAD} comes. ", *CLEAN[:3]]
BAD_FIRST = [f"{BAD} at the start. ", *CLEAN[:3]]
CLEAN_TEXT = "".join(CLEAN)

# The input's refusal style: the whole policy section (a dict replaces keys at its first
# level only), with the thresholds of the test config.
REFUSAL_STYLE = {**proxy_config("http://unused")["policy"], "input_block_style": "refusal"}

Answer = Callable[[dict[str, Any]], Any]
CREATED = 1_741_570_283


def answer(whole: Callable[[str], dict[str, Any]],
           streamed: Callable[[list[str]], list[bytes]], pieces: list[str]) -> Answer:
    """The upstream's answer of ``pieces``: streamed when the request asks for it."""
    return lambda body: Stream(streamed(pieces)) if body.get("stream") else \
        whole("".join(pieces))


def encode(data: dict[str, Any], event: str | None = None) -> bytes:
    return sse.encode(orjson.dumps(data), event)


# Chat Completions -------------------------------------------------------------------------

CHAT_ID = "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT"
CHAT_MODEL = "gpt-4o-2024-08-06"
CHAT_USAGE = {"prompt_tokens": 19, "completion_tokens": 56, "total_tokens": 75,
              "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
              "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                            "accepted_prediction_tokens": 0,
                                            "rejected_prediction_tokens": 0}}


def chat_completion(*contents: str) -> dict[str, Any]:
    """A whole chat completion, one choice per content."""
    return {"id": CHAT_ID, "object": "chat.completion", "created": CREATED,
            "model": CHAT_MODEL, "choices": [
                {"index": index, "message": {"role": "assistant", "content": content,
                                             "refusal": None, "annotations": []},
                 "logprobs": None, "finish_reason": "stop"}
                for index, content in enumerate(contents)],
            "usage": CHAT_USAGE, "service_tier": "default",
            "system_fingerprint": "fp_fc9f1d7035"}


def chat_events(pieces: list[str], usage: bool = False) -> list[bytes]:
    """A streamed chat completion: the role chunk, one chunk per piece, the finish chunk,
    with ``usage`` the usage chunk (``choices: []``), then ``[DONE]``."""
    def chunk(choices: list[dict[str, Any]], **extra: Any) -> bytes:
        return encode({"id": CHAT_ID, "object": "chat.completion.chunk", "created": CREATED,
                       "model": CHAT_MODEL, "service_tier": "default",
                       "system_fingerprint": "fp_fc9f1d7035", "choices": choices,
                       **({"usage": None} if usage else {}), **extra})

    def choice(delta: dict[str, Any], finish: str | None = None) -> list[dict[str, Any]]:
        return [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]

    events = [chunk(choice({"role": "assistant", "content": "", "refusal": None})),
              *(chunk(choice({"content": piece})) for piece in pieces),
              chunk(choice({}, "stop"))]
    if usage:
        events.append(chunk([], usage=CHAT_USAGE))
    return [*events, sse.DONE_EVENT]


def chat_answer(pieces: list[str], usage: bool = False) -> Answer:
    return answer(chat_completion, lambda p: chat_events(p, usage), pieces)


# Responses --------------------------------------------------------------------------------

RESPONSE_ID = "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b"
MESSAGE_ID = "msg_67ccd2bf17f0819081ff3bb2cf6508e60bb6a6b452d3795b"
RESPONSES_MODEL = "gpt-4.1-2025-04-14"


def response_object(status: str, output: list[dict[str, Any]]) -> dict[str, Any]:
    done = status == "completed"
    return {"id": RESPONSE_ID, "object": "response", "created_at": CREATED, "status": status,
            "background": False, "error": None, "incomplete_details": None,
            "instructions": None, "max_output_tokens": None, "metadata": {},
            "model": RESPONSES_MODEL, "output": output, "parallel_tool_calls": True,
            "previous_response_id": None, "reasoning": {"effort": None, "summary": None},
            "store": True, "temperature": 1.0,
            "text": {"format": {"type": "text"}, "verbosity": "medium"},
            "tool_choice": "auto", "tools": [], "top_p": 1.0, "truncation": "disabled",
            "usage": {"input_tokens": 36, "output_tokens": 87, "total_tokens": 123,
                      "input_tokens_details": {"cached_tokens": 0},
                      "output_tokens_details": {"reasoning_tokens": 0}} if done else None,
            "user": None}


def output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def output_message(text: str, status: str = "completed") -> dict[str, Any]:
    return {"id": MESSAGE_ID, "type": "message", "status": status, "role": "assistant",
            "content": [output_text(text)] if status == "completed" else []}


def response_json(text: str) -> dict[str, Any]:
    return response_object("completed", [output_message(text)])


def response_events(pieces: list[str]) -> list[bytes]:
    """A streamed response with one message item, each event named by its type and
    numbered as the API does."""
    text = "".join(pieces)
    where = {"item_id": MESSAGE_ID, "output_index": 0, "content_index": 0}
    events = [
        {"type": "response.created", "response": response_object("in_progress", [])},
        {"type": "response.in_progress", "response": response_object("in_progress", [])},
        {"type": "response.output_item.added", "output_index": 0,
         "item": output_message("", "in_progress")},
        {"type": "response.content_part.added", **where, "part": output_text("")},
        *({"type": "response.output_text.delta", **where, "delta": piece, "logprobs": []}
          for piece in pieces),
        {"type": "response.output_text.done", **where, "text": text, "logprobs": []},
        {"type": "response.content_part.done", **where, "part": output_text(text)},
        {"type": "response.output_item.done", "output_index": 0,
         "item": output_message(text)},
        {"type": "response.completed",
         "response": response_object("completed", [output_message(text)])},
    ]
    return [encode({**event, "sequence_number": number}, event["type"])
            for number, event in enumerate(events)]


def responses_answer(pieces: list[str]) -> Answer:
    return answer(response_json, response_events, pieces)


# Completions (legacy) ---------------------------------------------------------------------

COMPLETION_ID = "cmpl-uqkvlQyYK7bGYrRHQ0eXlWi7"
COMPLETIONS_MODEL = "gpt-3.5-turbo-instruct"
COMPLETION_USAGE = {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}


def completion_chunk(choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"id": COMPLETION_ID, "object": "text_completion", "created": CREATED,
            "model": COMPLETIONS_MODEL, "system_fingerprint": "fp_44709d6fcb",
            "choices": choices, **extra}


def completion_choice(text: str, finish: str | None, index: int = 0) -> dict[str, Any]:
    return {"text": text, "index": index, "logprobs": None, "finish_reason": finish}


def text_completion(*texts: str) -> dict[str, Any]:
    return completion_chunk([completion_choice(text, "stop", index)
                             for index, text in enumerate(texts)], usage=COMPLETION_USAGE)


def completion_events(pieces: list[str]) -> list[bytes]:
    chunks = [*(completion_chunk([completion_choice(piece, None)]) for piece in pieces),
              completion_chunk([completion_choice("", "stop")])]
    return [*(encode(chunk) for chunk in chunks), sse.DONE_EVENT]


def completions_answer(pieces: list[str]) -> Answer:
    return answer(text_completion, completion_events, pieces)


# Anthropic Messages -----------------------------------------------------------------------

ANTHROPIC_MESSAGE_ID = "msg_01XFDUDYJgAACzvnptvVoYEL"
CLAUDE = "claude-sonnet-4-6"


def message_json(text: str, stop_reason: str | None = "end_turn",
                 output_tokens: int = 15) -> dict[str, Any]:
    return {"id": ANTHROPIC_MESSAGE_ID, "type": "message", "role": "assistant",
            "model": CLAUDE, "content": [{"type": "text", "text": text}] if text else [],
            "stop_reason": stop_reason, "stop_sequence": None,
            "usage": {"input_tokens": 25, "output_tokens": output_tokens,
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                      "service_tier": "standard"}}


def message_events(pieces: list[str]) -> list[bytes]:
    """A streamed message with one text block, as Anthropic sends it (a ``ping`` too)."""
    events = [
        {"type": "message_start", "message": message_json("", None, output_tokens=1)},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text",
                                                                      "text": ""}},
        {"type": "ping"},
        *({"type": "content_block_delta", "index": 0,
           "delta": {"type": "text_delta", "text": piece}} for piece in pieces),
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
         "usage": {"output_tokens": 15}},
        {"type": "message_stop"},
    ]
    return [encode(event, event["type"]) for event in events]


def messages_answer(pieces: list[str]) -> Answer:
    return answer(message_json, message_events, pieces)


STREAMED = pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])


def openai_client(base: str) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=f"{base}/v1", api_key="sk-test", max_retries=0, timeout=10)


def assert_content_filter(error: Any, param: str) -> None:
    """What an openai SDK client sees of a blocked request, whatever the API: a 400
    content_filter error naming the check (never the text), the reasons in its body."""
    assert error.status_code == 400
    assert (error.code, error.param, error.type) == (
        "content_filter", param, "invalid_request_error")
    assert REJECTED in error.message and "script.bad" in error.message
    assert BAD not in error.message
    assert isinstance(error.body, dict)
    assert error.body["safety"]["direction"] == "input"
    assert error.body["safety"]["reasons"] == [BAD_REASON]
    assert error.response.headers["x-safety-decision"] == "block"
