"""The classifier side of a served sequence-classification model: start, classify, close.

A family subclasses :class:`SequenceClassifier` and says how to build its engine (load the
weights, pick the activation) and which output columns become which labels; loading,
warm-up, the batcher's life and the score mapping are the same for every family.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from classifiers.base import (
    Classifier,
    ClassifierConfigError,
    ClassifierError,
    ClassifyContext,
    Scores,
    clamp,
)
from classifiers.options import ClassifierOptions, settings_of
from classifiers.sequence.activation import Activation
from classifiers.sequence.batcher import TokenBatcher
from classifiers.sequence.engine import Engine
from classifiers.sequence.options import ServingOptions
from classifiers.sequence.scheduling import BatchBounds
from classifiers.sequence.workers import WorkerPool

if TYPE_CHECKING:
    from classifiers.remote.client import RemoteClient

WARM_UP_TEXTS = ("A short warm-up text.", "A somewhat longer warm-up text, " * 8)


class ModelOutputs(Protocol):
    """What a family's ``adopt`` reads of a model: its output columns' names, in order, and
    the activation that made them scores. A local Engine, or a remote model's metadata."""

    @property
    def class_names(self) -> tuple[str, ...]: ...

    @property
    def activation(self) -> Activation | None: ...  # None: a remote server did not say


class SequenceClassifier(Classifier):
    options_class: ClassVar[type[ServingOptions]] = ServingOptions
    packages: ClassVar[tuple[str, ...]] = ("torch", "transformers")  # of the detoxify extra
    settings: ServingOptions

    def __init__(self, name: str, options: ClassifierOptions | Mapping[str, Any] | None = None
                 ) -> None:
        super().__init__(name, options)
        self.settings = settings_of(self.options_class, name, self.type_name, options)
        if self.settings.runtime != "remote":  # a remote server holds the model
            require_packages(self.type_name, *self.packages, extra="detoxify")
        if self.settings.runtime == "onnx":
            require_packages(self.type_name, "onnxruntime", "onnx", extra="onnx")
        self._columns: dict[str, int] = {}  # label -> the model's output column
        self._fingerprint = "unloaded"
        self.engine: Engine | None = None  # the local model, once started in this process
        self.batcher: TokenBatcher | None = None
        self.workers: WorkerPool | None = None  # workers: N
        self.remote: RemoteClient | None = None  # runtime: remote

    def build_engine(self) -> Engine:
        """Loads the model (blocking: runs off the event loop)."""
        raise NotImplementedError

    def adopt(self, engine: ModelOutputs) -> None:
        """Takes the loaded model's labels; raises ClassifierConfigError if they do not fit."""
        raise NotImplementedError

    async def start(self) -> None:
        """Loads and warms up off the event loop; bad files raise ClassifierConfigError."""
        if self.settings.runtime == "remote":
            await self._start_remote()
            return
        if self.settings.workers:
            await self._start_workers()
            return
        engine = await asyncio.to_thread(self.build_engine)
        self.adopt(engine)
        self._fingerprint = engine.fingerprint
        self.engine = engine
        s = self.settings
        # A window waiting a quarter of the stall limit is served before shorter ones.
        self.batcher = TokenBatcher(
            engine, name=self.name,
            bounds=BatchBounds(s.max_batch, s.max_batch_tokens, overdue_s=s.stall_after_s / 4,
                               pad_multiple=s.pad_multiple, pipelined=s.pipeline),
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
        self.engine = None
        if self.workers is not None:
            await self.workers.close()
            self.workers = None
        if self.remote is not None:
            await self.remote.close()
            self.remote = None
        if self.batcher is not None:
            await self.batcher.close()
            self.batcher = None

    async def classify(
        self, texts: Sequence[str], context: ClassifyContext | None = None
    ) -> list[Scores]:
        vectors = await self.column_scores(texts)
        return [
            {label: clamp(vector[column]) for label, column in self._columns.items()}
            for vector in vectors
        ]

    async def column_scores(self, texts: Sequence[str]) -> list[list[float]]:
        """A score vector per text, in the model's column order (before the labels are
        mapped), from either runtime."""
        if self.remote is not None:
            return await self.remote.classify(texts)
        if self.workers is not None:
            return await self.workers.submit(texts)
        if self.batcher is None:
            raise ClassifierError(f"{self.name}: {self.type_name} classifier is not started")
        return await self.batcher.submit(texts)

    async def _start_workers(self) -> None:
        """workers: N: each worker loads the model and warms it up; the family maps the
        model's columns to labels here, as for a model loaded in this process."""
        s = self.settings
        pool = WorkerPool(self.type_name, self.name, s.model_dump(mode="json"),
                          count=s.workers, max_queue=s.max_queue,
                          request_timeout_s=s.request_timeout_s, on_batch=self.observe_batch)
        outputs = await pool.start()
        try:
            self.adopt(outputs)
        except BaseException:
            await pool.close()
            raise
        self._fingerprint = outputs.fingerprint
        self.workers = pool

    async def _start_remote(self) -> None:
        """runtime: remote: the server's metadata names the columns; the family maps them
        to labels as it maps a local model's (``adopt``)."""
        from classifiers.remote.client import RemoteClient
        from classifiers.remote.outputs import RemoteOutputs

        assert self.settings.remote is not None  # ServingOptions checks it
        client = RemoteClient(self.name, self.settings.remote, max_queue=self.settings.max_queue,
                              on_batch=self.observe_batch)
        facts = await client.start()
        try:
            self.adopt(RemoteOutputs.of(facts))
        except BaseException:
            await client.close()
            raise
        self._fingerprint = RemoteOutputs.fingerprint_of(facts)
        self.remote = client


def require_packages(family: str, *names: str, extra: str) -> None:
    """Checked when the config is loaded, so a missing package is a config error."""
    missing = [name for name in names if importlib.util.find_spec(name) is None]
    if missing:
        raise ClassifierConfigError(
            f"{family}: missing package(s) {', '.join(missing)}: install torch first (the build "
            f"you want, CPU or CUDA), then, from the safety-proxy checkout, "
            f"pip install '.[{extra}]'"
        )
