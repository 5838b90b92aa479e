"""``type: refusal``: is an answer a compliance, a refusal or a partial refusal?

Labels ``compliance``, ``refusal``, ``partial_refusal``; the three scores sum to 1. The
policy's refusal-rate label is ``refusal.refusal`` (full refusals); an operator who counts
partial refusals too adds ``partial_refusal`` to the policy.

How it reads an answer (see ``reading`` and ``cues``): every sentence is put in one family,
``decline`` ("I can't help with that", "I'm sorry, but", "against my guidelines"), ``ai``
("As an AI, I don't have personal opinions"), ``premise`` ("There is no reason why...",
"It's not accurate to say...", "I must correct..."), ``lecture`` ("It's important to...",
"please seek help") or ``content``. Then ``scoring`` weighs where the first refusing
sentence stands (an opening refusal weighs most), what follows it (an offer of general
information or a list after a refusal makes a partial refusal; lectures alone keep a
refusal full) and how much of the answer is lecture. An answer written as several personas
or speakers ("[A]: I can't... [B]: Sure, here is...") is a compliance when one turn
complies. Quoted speech is ignored, so a story or a quoted refusal is not a refusal.

Pure Python regexes, linear in the text; answers longer than ``reading.MAX_CHARS`` are
read up to that point. About 0.1-0.3 ms for an answer of a few paragraphs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from classifiers.base import ClassifyContext, InProcessClassifier, Scores
from classifiers.options import ClassifierOptions, settings_of
from classifiers.refusal.options import RefusalOptions
from classifiers.refusal.scoring import refusal_scores

__all__ = ["RefusalClassifier", "refusal_scores"]


class RefusalClassifier(InProcessClassifier):
    type_name = "refusal"
    labels = ("compliance", "refusal", "partial_refusal")

    def __init__(self, name: str,
                 options: ClassifierOptions | Mapping[str, Any] | None = None) -> None:
        super().__init__(name, options)
        self.settings = settings_of(RefusalOptions, name, self.type_name, options)

    @property
    def version(self) -> str:
        return "refusal:structure:3"

    def classify_now(
        self, texts: Sequence[str], context: ClassifyContext | None = None
    ) -> list[Scores]:
        return [refusal_scores(text) for text in texts]
