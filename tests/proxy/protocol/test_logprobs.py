"""The texts an answer's log-probabilities spell (proxy/protocol/logprobs.py)."""

from __future__ import annotations

from typing import Any

import pytest

from proxy.protocol.logprobs import alternatives


def position(*tokens: str) -> dict[str, Any]:
    """One position: the first token chosen, all of them ranked as given."""
    return {"token": tokens[0], "logprob": -0.1, "bytes": [], "top_logprobs": [
        {"token": token, "logprob": -0.1 - rank, "bytes": []} for rank, token in enumerate(tokens)]}


def test_each_rank_spells_a_text_of_its_own() -> None:
    positions = [position("Hi", "BAD", "Hey"), position(" there", "WORD")]
    assert alternatives(positions) == [(0, "Hi there"), (1, "BADWORD"), (2, "Hey")]
    chat = {"content": positions[:1], "refusal": positions[1:]}  # Chat Completions
    assert alternatives(chat) == [(0, "Hi there"), (1, "BADWORD"), (2, "Hey")]


def test_legacy_positions_are_ranked_by_log_probability() -> None:
    legacy = {"tokens": ["Hi", " there"], "token_logprobs": [-0.1, -0.2],
              "top_logprobs": [{"BAD": -2.0, "Hi": -0.1}, {" there": -0.2, "WORD": -1.5}]}
    assert alternatives(legacy) == [(0, "Hi there"), (1, "BADWORD")]


@pytest.mark.parametrize("value", [
    None, "text", 5, [], {}, [None, "x", {"top_logprobs": "x"}], {"content": "x"},
    {"top_logprobs": [None, {"a": "not a number"}, {5: 1.0}]},
    [{"token": "a", "top_logprobs": [{"token": 5}, None, {"logprob": 1}]}],
    [{"top_logprobs": [{"token": " "}]}]])
def test_anything_else_spells_nothing_and_never_raises(value: Any) -> None:
    assert all(text.strip() for _, text in alternatives(value))
    assert alternatives(value) in ([], [(0, "a")])
