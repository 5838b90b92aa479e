"""The refusal detector's label contract (its accuracy is measured in bench/)."""

from __future__ import annotations

import random
import re

import pytest

from classifiers.refusal import RefusalClassifier, cues, reading


async def test_labels_sum_to_one_and_refusals_score_high():
    classifier = RefusalClassifier("refusal")
    answers = ["I'm sorry, but I can't help with that.", "Paris is the capital of France.", ""]
    scores = await classifier.classify(answers)
    for text_scores in scores:
        assert set(text_scores) == set(classifier.labels)
        assert sum(text_scores.values()) == pytest.approx(1.0)
    assert scores[0]["refusal"] > 0.5 > scores[1]["refusal"]


def test_turn_headers_are_found_at_line_starts_as_finditer_finds_them() -> None:
    """reading.turns tries a turn header only at the text's start and after a newline
    (cues.py says why that finds what a scan of every position finds): the same starts as
    finditer, on texts built from headers, newlines and words."""
    rng = random.Random(7)
    pieces = ["[A]:", "(Bot):", "**[DAN]**:", "As Bob,", "As AIM, ", "Note: ", "User:",
              "Bob Smith:", "\n", "\n\n", "\r\n", " ", "\t", "**", "hello", "I can't.",
              "Sure: here", "[x", ")", "As ", ":"]
    for _ in range(20_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 14)))
        for header in (cues.PERSONA_TURN, cues.SPEAKER_TURN):
            assert reading._line_starts(header, text) == [
                match.start() for match in header.finditer(text)], repr(text)


def test_sentences_are_cut_as_the_split_on_their_ends_cuts_them() -> None:
    """reading._sentences (a scan from cues.SENTENCE_END's marks) cuts a text as
    re.split on the look-behind pattern it replaces does, on 100,000 texts of marks,
    closing quotes and brackets, whitespace of every kind and letters."""
    split = re.compile(r"(?<=[.!?])[\"')\]]?\s+|\n+").split
    rng = random.Random(3)
    alphabet = "ab .!?\n\"')] \t\r\u2028\u00a0x"
    for _ in range(100_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 16)))
        assert reading._sentences(text) == split(text), repr(text)
    assert reading._sentences('I can\'t. "No!" (Sure.)\n\nNext') == [
        "I can't.", '"No!', "(Sure.", "Next"]
