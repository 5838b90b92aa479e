"""``type: detoxify``: the Detoxify toxicity models, served for a busy proxy.

Labels (fixed across models, see labels.py): toxicity, severe_toxicity, obscene, threat,
insult, identity_attack, and sexual_explicit for the unbiased and multilingual models.
Scores come from one dedicated inference thread that micro-batches concurrent requests
(batcher.py), score long texts as overlapping windows (windows.py), and run on torch or on
ONNX Runtime with optional int8 weights (onnx_runtime.py). Options: options.py.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Mapping, Sequence
from typing import Any

from classifiers.base import (
    Classifier,
    ClassifierConfigError,
    ClassifierError,
    ClassifyContext,
    Scores,
    clamp,
)
from classifiers.detoxify.batcher import TokenBatcher
from classifiers.detoxify.engine import DetoxifyEngine, build_engine
from classifiers.detoxify.labels import EXPECTED, normalise
from classifiers.detoxify.options import INT8_SCHEME, parse_options
from classifiers.detoxify.scheduling import BatchBounds

__all__ = ["DetoxifyClassifier"]
WARM_UP_TEXTS = ("A short warm-up text.", "A somewhat longer warm-up text, " * 8)


class DetoxifyClassifier(Classifier):
    type_name = "detoxify"

    def __init__(self, name: str, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(name, options)
        self.settings = parse_options(name, self.options)
        _require_packages("torch", "transformers", "detoxify")
        if self.settings.runtime == "onnx":
            _require_packages("onnxruntime", "onnx", extra="onnx")
        self.labels = EXPECTED[self.settings.model]
        self._columns: dict[str, int] = {}
        self._fingerprint = "unloaded"
        self.batcher: TokenBatcher | None = None

    @property
    def version(self) -> str:
        s = self.settings
        runtime: str = s.runtime
        if s.runtime == "onnx":
            runtime += f"-{INT8_SCHEME if s.quantize == 'int8' else s.quantize}"
        windows = f"w{s.window_tokens}o{s.window_overlap}t{s.max_tokens_per_text}"
        return f"detoxify:{s.model}:{self._fingerprint}:{runtime}:{windows}"

    async def start(self) -> None:
        """Loads and warms up off the event loop; bad files raise ClassifierConfigError."""
        engine = await asyncio.to_thread(build_engine, self.settings)
        self._adopt(engine)
        s = self.settings
        # A window waiting a quarter of the stall limit is served before shorter ones.
        self.batcher = TokenBatcher(
            engine, name=self.name,
            bounds=BatchBounds(s.max_batch, s.max_batch_tokens, overdue_s=s.stall_after_s / 4),
            max_wait_ms=s.max_wait_ms, max_queue=s.max_queue,
            request_timeout_s=s.request_timeout_s, stall_after_s=s.stall_after_s,
            on_batch=self.observe_batch,
        )
        self.batcher.start()
        try:
            await self.batcher.submit(WARM_UP_TEXTS)
        except ClassifierError as exc:
            await self.close()
            raise ClassifierConfigError(f"detoxify: the model failed its warm-up: {exc}") from None
        except BaseException:  # start-up cancelled: do not leave the thread behind
            await self.close()
            raise

    def _adopt(self, engine: DetoxifyEngine) -> None:
        self._columns = normalise(engine.class_names)
        if not self._columns:
            raise ClassifierConfigError(
                f"detoxify: the checkpoint's classes {list(engine.class_names)} include none of "
                f"the Detoxify labels {list(EXPECTED['unbiased'])}"
            )
        self.labels = tuple(self._columns)
        self._fingerprint = engine.fingerprint

    async def close(self) -> None:
        if self.batcher is not None:
            await self.batcher.close()
            self.batcher = None

    async def classify(
        self, texts: Sequence[str], context: ClassifyContext | None = None
    ) -> list[Scores]:
        if self.batcher is None:
            raise ClassifierError(f"{self.name}: detoxify classifier is not started")
        vectors = await self.batcher.submit(texts)
        return [
            {label: clamp(vector[column]) for label, column in self._columns.items()}
            for vector in vectors
        ]


def _require_packages(*names: str, extra: str = "detoxify") -> None:
    """Checked when the config is loaded, so a missing package is a config error."""
    missing = [name for name in names if importlib.util.find_spec(name) is None]
    if missing:
        raise ClassifierConfigError(
            f"detoxify: missing package(s) {', '.join(missing)}: install torch first (the build "
            f"you want, CPU or CUDA), then, from the safety-proxy checkout, "
            f"pip install '.[{extra}]'"
        )
