"""The classifier side of a served sequence-classification model: start, classify, close.

A family subclasses :class:`SequenceClassifier` and says how to build its engine (load the
weights, pick the activation) and which output columns become which labels; loading,
warm-up, the batcher's life and the score mapping are the same for every family.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from classifiers.base import (
    Classifier,
    ClassifierConfigError,
    ClassifierError,
    ClassifyContext,
    Scores,
    clamp,
)
from classifiers.options import ClassifierOptions, settings_of
from classifiers.sequence.batcher import TokenBatcher
from classifiers.sequence.engine import Engine
from classifiers.sequence.options import ServingOptions
from classifiers.sequence.scheduling import BatchBounds

WARM_UP_TEXTS = ("A short warm-up text.", "A somewhat longer warm-up text, " * 8)


class SequenceClassifier(Classifier):
    options_class: ClassVar[type[ServingOptions]] = ServingOptions
    packages: ClassVar[tuple[str, ...]] = ("torch", "transformers")  # of the detoxify extra
    settings: ServingOptions

    def __init__(self, name: str, options: ClassifierOptions | Mapping[str, Any] | None = None
                 ) -> None:
        super().__init__(name, options)
        self.settings = settings_of(self.options_class, name, self.type_name, options)
        require_packages(self.type_name, *self.packages, extra="detoxify")
        if self.settings.runtime == "onnx":
            require_packages(self.type_name, "onnxruntime", "onnx", extra="onnx")
        self._columns: dict[str, int] = {}  # label -> the model's output column
        self._fingerprint = "unloaded"
        self.batcher: TokenBatcher | None = None

    def build_engine(self) -> Engine:
        """Loads the model (blocking: runs off the event loop)."""
        raise NotImplementedError

    def adopt(self, engine: Engine) -> None:
        """Takes the loaded model's labels; raises ClassifierConfigError if they do not fit."""
        raise NotImplementedError

    async def start(self) -> None:
        """Loads and warms up off the event loop; bad files raise ClassifierConfigError."""
        engine = await asyncio.to_thread(self.build_engine)
        self.adopt(engine)
        self._fingerprint = engine.fingerprint
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
            raise ClassifierConfigError(
                f"{self.type_name}: the model failed its warm-up: {exc}") from None
        except BaseException:  # start-up cancelled: do not leave the thread behind
            await self.close()
            raise

    async def close(self) -> None:
        if self.batcher is not None:
            await self.batcher.close()
            self.batcher = None

    async def classify(
        self, texts: Sequence[str], context: ClassifyContext | None = None
    ) -> list[Scores]:
        if self.batcher is None:
            raise ClassifierError(f"{self.name}: {self.type_name} classifier is not started")
        vectors = await self.batcher.submit(texts)
        return [
            {label: clamp(vector[column]) for label, column in self._columns.items()}
            for vector in vectors
        ]


def require_packages(family: str, *names: str, extra: str) -> None:
    """Checked when the config is loaded, so a missing package is a config error."""
    missing = [name for name in names if importlib.util.find_spec(name) is None]
    if missing:
        raise ClassifierConfigError(
            f"{family}: missing package(s) {', '.join(missing)}: install torch first (the build "
            f"you want, CPU or CUDA), then, from the safety-proxy checkout, "
            f"pip install '.[{extra}]'"
        )
