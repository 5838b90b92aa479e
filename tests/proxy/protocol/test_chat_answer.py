"""The Chat Completions answer reader: which choice fields are scored, and what a blocked
choice keeps (nothing of its own)."""

from __future__ import annotations

from typing import Any

from openai.types.chat import ChatCompletion

from proxy.protocol.chat_answer import answer_texts, block_answer
from proxy.protocol.dialect import AnswerText
from tests.support.upstream import chat_completion

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
    body["choices"].insert(0, "not a choice")  # skipped by the reader, and here alike
    block_answer(body, {1}, "No.", SAFETY)
    assert body["choices"][2] == {"index": 1, "finish_reason": "content_filter",
                                  "message": {"role": "assistant", "content": "No."},
                                  "logprobs": None}
    assert body["choices"][1]["logprobs"] == logprobs("fine")  # the allowed one is untouched
    assert body["safety"] == SAFETY
    body["choices"].pop(0)
    completion = ChatCompletion.model_validate(body)  # still what the SDK reads
    assert [c.message.content for c in completion.choices] == ["fine", "No."]
    assert "toxic" not in str(body)
