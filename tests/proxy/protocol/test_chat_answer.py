"""The Chat Completions answer reader: which choice fields are scored, and what a blocked
choice keeps (nothing of its own)."""

from __future__ import annotations

from typing import Any

import orjson
from openai.types.chat import ChatCompletion

from proxy.protocol.chat_answer import ChatStreamCodec, answer_texts, block_answer
from proxy.protocol.dialect import AnswerText
from proxy.protocol.sse import SSEEvent
from tests.support.upstream import chat_chunk, chat_completion

SAFETY = {"decision": "block", "direction": "output", "reasons": []}


def logprobs(text: str) -> dict[str, Any]:
    token = {"token": text, "logprob": -0.1, "bytes": list(text.encode()), "top_logprobs": []}
    return {"content": [token], "refusal": None}


def two_choices() -> dict[str, Any]:
    body = chat_completion({"role": "assistant", "content": "fine"},
                           {"role": "assistant", "content": "toxic"})
    for choice in body["choices"]:
        choice["logprobs"] = logprobs(choice["message"]["content"])
    body["choices"][1]["stop_reason"] = "toxic"  # vLLM: the stop string that matched
    body["choices"][1]["content_filter_results"] = {"hate": {"filtered": False,
                                                             "severity": "safe"}}
    return body


def test_choice_fields_a_vendor_added_are_scored_and_logprobs_are_not():
    assert answer_texts(two_choices()) == [
        AnswerText(0, "content", "fine"), AnswerText(1, "content", "toxic"),
        AnswerText(1, "extension", "toxic")]  # Azure's verdict labels are not answer text


def test_a_blocked_choice_is_replaced_whole():
    body = two_choices()
    body["choices"].insert(0, "not a choice")  # read as output 0's text, then dropped
    block_answer(body, {1}, "No.", SAFETY)
    assert body["choices"][1] == {"index": 1, "finish_reason": "content_filter",
                                  "message": {"role": "assistant", "content": "No."},
                                  "logprobs": None}
    assert body["choices"][0]["logprobs"] == logprobs("fine")  # the allowed one is untouched
    assert body["safety"] == SAFETY and len(body["choices"]) == 2
    completion = ChatCompletion.model_validate(body)  # still what the SDK reads
    assert [c.message.content for c in completion.choices] == ["fine", "No."]
    assert "toxic" not in str(body)


def vendor_answer() -> dict[str, Any]:
    """Perplexity's shape: citations and search results beside the choices, and the
    fields every completion has (read apart, or no answer text)."""
    return {**chat_completion({"role": "assistant", "content": "fine"}),
            "system_fingerprint": "fp_1", "service_tier": "default",
            "citations": ["https://a.example/toxic"],
            "search_results": [{"title": "toxic title", "url": "https://a.example"}]}


def test_top_level_vendor_fields_are_read_and_a_block_drops_them():
    body = vendor_answer()
    assert answer_texts(body)[1:] == [
        AnswerText(0, "extension", "https://a.example/toxic"),
        AnswerText(0, "extension", "toxic title"), AnswerText(0, "extension",
                                                              "https://a.example")]
    block_answer(body, {0}, "No.", SAFETY)
    assert "citations" not in body and "search_results" not in body
    assert body["system_fingerprint"] == "fp_1" and body["service_tier"] == "default"
    ChatCompletion.model_validate(body)


def test_a_stream_reads_a_vendor_text_each_chunk_repeats_once():
    codec = ChatStreamCodec("req", None)
    texts = []
    for delta in ({"content": "a"}, {"content": "b"}):
        chunk = {**chat_chunk(delta), "citations": ["https://a.example/toxic"]}
        texts += codec.read(SSEEvent(data=orjson.dumps(chunk).decode())).texts
    assert texts == [(0, "a"), (0, "https://a.example/toxic"), (0, "b")]
