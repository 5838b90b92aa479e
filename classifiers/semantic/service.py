"""The packaged sentence encoder served for a busy proxy, shared by ``type: semantic`` and
``type: heads``: texts from concurrent requests are gathered into one model call off the
event loop (MicroBatcher), and each text's unit embedding is cached by content hash.

Options (the one home of their parsing): ``cache_size`` (embeddings kept, about 2 KB each;
default 10,000), ``max_batch`` (texts per model call, 32), ``max_wait_ms`` (how long a
batch waits for more texts, 2), ``threads`` (BLAS threads for the model, 1).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from classifiers.batching import MicroBatcher
from classifiers.judge_client import LruCache, content_key, int_option
from classifiers.semantic.encoder import Encoder, load_packaged_model
from classifiers.semantic.minilm import Array

SERVICE_OPTIONS = frozenset({"cache_size", "max_batch", "max_wait_ms", "threads"})


class EmbeddingService:
    def __init__(self, name: str, options: Mapping[str, Any],
                 on_batch: Callable[[int], None] | None = None) -> None:
        self.name = name
        self.cache: LruCache[Array] = LruCache(int_option(options, "cache_size", 10_000, 0))
        self._threads = int_option(options, "threads", 1, 1)
        self._max_batch = int_option(options, "max_batch", 32, 1)
        self._max_wait_ms = int_option(options, "max_wait_ms", 2, 0)
        self._on_batch = on_batch
        self._batcher: MicroBatcher[Array] | None = None

    async def start(self) -> Encoder:
        """Loads the model (off the event loop) and starts the batcher; returns the encoder
        for one-off work at start (embedding a classifier's examples)."""
        encoder = Encoder(await asyncio.to_thread(load_packaged_model), self._threads)
        self._batcher = MicroBatcher(
            encoder.encode_rows, name=self.name, max_batch=self._max_batch,
            max_wait_ms=self._max_wait_ms, on_batch=self._on_batch)
        self._batcher.start()
        return encoder

    async def close(self) -> None:
        if self._batcher is not None:
            await self._batcher.close()
            self._batcher = None

    def remember(self, text: str, row: Array) -> None:
        self.cache.put(content_key(text), row)

    @property
    def batch_sizes(self) -> list[int]:
        """Texts per recent model call (for tests and metrics)."""
        return list(self._batcher.batch_sizes) if self._batcher else []

    async def embeddings(self, texts: Sequence[str]) -> list[Array]:
        """Unit-length embeddings, from the cache or from one batched model call."""
        assert self._batcher is not None, "start() was not awaited"
        keys = [content_key(text) for text in texts]
        found = {key: v for key in set(keys) if (v := self.cache.get(key)) is not None}
        missing = list({key: text for key, text in zip(keys, texts, strict=True)
                        if key not in found}.items())
        if missing:
            rows = await self._batcher.submit([text for _, text in missing])
            for (key, _), row in zip(missing, rows, strict=True):
                found[key] = row
                self.cache.put(key, row)
        return [found[key] for key in keys]
