"""The Chat Completions answer reader: which choice fields are scored, and what a blocked
choice keeps (nothing of its own)."""

from __future__ import annotations

import random
from typing import Any

import orjson
from openai.types.chat import ChatCompletion

from proxy.protocol.chat_answer import (
    ChatStreamCodec,
    answer_texts,
    block_answer,
    plain_chunk_view,
)
from proxy.protocol.dialect import AnswerText
from proxy.protocol.sse import SSEEvent
from tests.support.stand_in import assert_stands_in
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


# Values a generated chunk's fields take: what upstreams send, and what they should not.
_VALUES: list[Any] = ["", "word ", "toxic", None, 0, True, ["toxic"], {"text": "toxic"}]


def _ranked(text: str) -> dict[str, Any]:
    """Log-probabilities whose second rank spells ``text``."""
    ranked = logprobs("a")
    ranked["content"][0]["top_logprobs"] = [{"token": text, "logprob": -1.0, "bytes": []}]
    return ranked


def _generated_chunk(rng: random.Random) -> dict[str, Any]:
    """A stream chunk of a random shape: the usual fields and others, in every type."""
    def delta() -> Any:
        keys = ["role", "content", "refusal", "reasoning_content", "tool_calls", "audio",
                "function_call", "vendor"]
        if rng.random() < 0.1:
            return rng.choice(_VALUES)
        return {key: rng.choice(_VALUES[:4] if rng.random() < 0.7 else _VALUES)
                for key in rng.sample(keys, rng.randint(0, 3))}

    def choice(position: int) -> Any:
        if rng.random() < 0.05:
            return "not a choice"
        fields: dict[str, Any] = {"index": rng.choice([position, position, 3, "1", True])}
        fields["delta"] = delta()
        for key, values in (("finish_reason", [None, None, "stop", "", {"why": "toxic"}]),
                            ("logprobs", [None, None, {}, _ranked("toxic"), "toxic", []]),
                            ("content_filter_results", [{}, {"hate": {"filtered": False}},
                                                        "toxic"]),
                            ("message", [{"content": "toxic"}, "toxic"]),
                            ("stop_reason", ["toxic", None])):
            if rng.random() < 0.3:
                fields[key] = rng.choice(values)
        return dict(rng.sample(list(fields.items()), len(fields)))  # any key order

    chunk = chat_chunk({})
    chunk["choices"] = [choice(p) for p in range(rng.choice([0, 1, 1, 1, 2]))]
    for key, value in (("usage", {"total_tokens": 3}), ("system_fingerprint", "fp"),
                       ("citations", ["https://a.example/toxic"]), ("error", {"message": "x"}),
                       ("model", rng.choice(_VALUES))):
        if rng.random() < 0.15:
            chunk[key] = value
    return chunk


def test_the_usual_chunks_reader_sees_what_the_general_reader_sees():
    """``plain_chunk_view`` stands in for the general reader on the chunks it takes: on
    generated chunks it either declines or gives the same view."""
    assert_stands_in(_generated_chunk, plain_chunk_view,
                     lambda chunk: ChatStreamCodec("req", None)._view(chunk))
    for chunk in (chat_chunk({"role": "assistant", "content": ""}), chat_chunk({"content": "a"}),
                  chat_chunk({}, "stop"), chat_chunk({"reasoning_content": "b"}, index=1)):
        assert plain_chunk_view(chunk) == ChatStreamCodec("req", None)._view(chunk)


def test_a_stream_read_through_either_reader_reads_the_same():
    """What ``read`` returns over a stream (the model remembered from its first chunk
    included) whether or not the usual-chunk reader takes each chunk."""
    chunks = [chat_chunk({"role": "assistant", "content": ""}), chat_chunk({"content": "Hi"}),
              {**chat_chunk({"content": " there"}), "citations": ["https://a.example"]},
              chat_chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}),
              chat_chunk({}, "stop"), chat_chunk({}, choices=[], usage={"total_tokens": 2})]
    fast, general = ChatStreamCodec("req", None), ChatStreamCodec("req", None)
    for chunk in chunks:
        view = fast.read(SSEEvent(orjson.dumps(chunk).decode()))
        assert view == general._view(chunk)
    assert fast.model == "fake-model" and fast.usage == general.usage == chunks[-1]
