"""``messages_sinks.record_texts``: the strings ``record_leaves`` yields, a flat object read
in one pass; the two agree on every value."""

from __future__ import annotations

import random
from typing import Any

from proxy.protocol.messages_sinks import NOT_TEXT, record_leaves, record_texts
from tests.support.stand_in import assert_stands_in

_KEYS = ["text", "type", "partial_json", "thinking", "signature", "citation", "data", "id"]
_LEAVES: list[Any] = ["", "word ", "toxic", None, 0, 1.5, True]


def _value(rng: random.Random, depth: int = 0) -> Any:
    """A JSON value: mostly a delta's flat object, sometimes nested, sometimes not one."""
    roll = rng.random()
    if depth > 2 or roll < 0.3:
        return rng.choice(_LEAVES)
    if roll < 0.4:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    flat = rng.random() < 0.6
    return {key: (rng.choice(_LEAVES[:3]) if flat else _value(rng, depth + 1))
            for key in rng.sample(_KEYS, rng.randint(0, 4))}


def test_record_texts_reads_what_record_leaves_yields():
    def flat(value: Any) -> list[str] | None:  # only the values read in one pass count
        if isinstance(value, dict) and all(isinstance(item, str) for key, item in value.items()
                                           if key not in NOT_TEXT):
            return record_texts(value)
        return None

    assert_stands_in(_value, flat, lambda value: [t for _, t in record_leaves(value, ())])
    for value in ([{"text": "a"}, "b"], {"a": {"text": "c"}}, "d", None, 3):  # the walk's own
        assert record_texts(value) == [text for _, text in record_leaves(value, ())]


def test_a_delta_s_text_is_read_and_its_type_is_not():
    assert record_texts({"type": "text_delta", "text": "Hi"}) == ["Hi"]
    assert record_texts({"type": "input_json_delta", "partial_json": "{\"a\": \"x"}) == [
        "{\"a\": \"x"]
    assert record_texts({"type": "signature_delta", "signature": "c2ln"}) == []
    assert record_texts({"text": "a", "extra": {"note": "b"}}) == ["a", "b"]
