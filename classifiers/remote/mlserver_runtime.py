"""The server side of ``runtime: remote``: an MLServer runtime serving our own classifier.

The only module that imports mlserver (the ``serve`` extra); MLServer loads it by name, from
a model folder's model-settings.json (deploy/inference/)::

    {"name": "toxicity",
     "implementation": "classifiers.remote.mlserver_runtime.SequenceRuntime",
     "parameters": {"extra": {"type": "detoxify", "options": {"model": "original"}}}}

``extra.type`` is ``detoxify`` or ``transformers``; ``extra.options`` are that check's
options as in a proxy config, with a local runtime (torch or onnx): the server tokenizes,
windows, batches and activates exactly as the proxy would in-process, so the proxy's
remote scores are the local ones (rounded to float32). ``extra.input_name`` and
``extra.output_name`` rename the tensors (default ``text`` and ``scores``).

Contract of the wire: the input is BYTES of shape [n] (UTF-8 texts); the output is FP32 of
shape [n, columns], row-major and flat, one column per class of the model in its own order
(before any family's label mapping, which the proxy applies); the response's parameters
carry ``inference_ms``, the time spent scoring on the server. The model's metadata publishes
the columns' names (``labels``, on the output and on the model), ``activation`` and a
``fingerprint`` of the weights (classifiers/remote/outputs.py reads them). A full queue
answers 503 (the client retries it); a failed scoring 500, without the texts.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from mlserver import MLModel
from mlserver.errors import MLServerError
from mlserver.types import (
    InferenceRequest,
    InferenceResponse,
    MetadataModelResponse,
    MetadataTensor,
    Parameters,
    ResponseOutput,
)

from classifiers import registry
from classifiers.base import ClassifierError, Overloaded
from classifiers.sequence.classifier import ModelOutputs, SequenceClassifier

FAMILIES = ("detoxify", "transformers")


class SequenceRuntime(MLModel):  # type: ignore[misc]  # mlserver ships no type hints
    async def load(self) -> bool:
        extra = dict(getattr(self.settings.parameters, "extra", None) or {})
        self._input_name = str(extra.get("input_name", "text"))
        self._output_name = str(extra.get("output_name", "scores"))
        self._classifier = _served(str(extra.get("type")), self.name, extra.get("options"))
        await self._classifier.start()
        return True

    async def unload(self) -> bool:
        await self._classifier.close()
        return True

    async def metadata(self) -> MetadataModelResponse:
        served = self._classifier
        names = list(served.class_names)
        published = Parameters(labels=names, activation=served.activation,
                               fingerprint=served.fingerprint)
        return MetadataModelResponse(
            name=self.name, platform="safety-proxy", versions=self.settings.versions,
            inputs=[MetadataTensor(name=self._input_name, datatype="BYTES", shape=[-1])],
            outputs=[MetadataTensor(name=self._output_name, datatype="FP32",
                                    shape=[-1, len(names)], parameters=Parameters(labels=names))],
            parameters=published)

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        texts = self._texts(payload)
        started = time.perf_counter()
        try:
            vectors = await self._classifier.column_scores(texts) if texts else []
        except Overloaded:  # the proxy's client retries a 503, with backoff
            raise MLServerError("the model's queue is full", status_code=503) from None
        except ClassifierError as exc:
            raise MLServerError(f"scoring failed: {type(exc).__name__}", status_code=500) from None
        inference_ms = (time.perf_counter() - started) * 1000.0
        columns = len(self._classifier.class_names)
        scores = np.clip(np.asarray(vectors, dtype=np.float32).reshape(len(texts), columns),
                         0.0, 1.0)
        return InferenceResponse(
            model_name=self.name, model_version=self.version,
            parameters=Parameters(inference_ms=round(inference_ms, 3)),
            outputs=[ResponseOutput(name=self._output_name, datatype="FP32",
                                    shape=[len(texts), columns], data=scores.ravel().tolist())])

    def _texts(self, payload: InferenceRequest) -> list[str]:
        for tensor in payload.inputs:
            if tensor.name == self._input_name:
                return _utf8_texts(tensor.datatype, tensor.shape, list(tensor.data))
        raise MLServerError(f"no input named {self._input_name!r}", status_code=400)


def _utf8_texts(datatype: Any, shape: list[int], data: list[Any]) -> list[str]:
    kind = getattr(datatype, "value", datatype)
    if kind != "BYTES" or len(shape) != 1 or shape[0] != len(data):
        raise MLServerError("the input must be BYTES of shape [n] with n texts",
                            status_code=400)
    return [item.decode("utf-8") if isinstance(item, bytes) else str(item) for item in data]


class _Facts:
    """Mixed into the served classifier: keeps what its engine says of the outputs."""

    class_names: tuple[str, ...] = ()
    activation: str | None = None
    fingerprint = "unloaded"

    def adopt(self, engine: ModelOutputs) -> None:
        super().adopt(engine)  # type: ignore[misc]  # the classifier's own adopt, next in MRO
        self.class_names = engine.class_names
        self.activation = engine.activation
        self.fingerprint = getattr(engine, "fingerprint", "unpublished")


def _served(type_name: str, name: str, options: Any) -> Any:
    """The family's classifier, recording its engine's outputs; a local runtime only."""
    if type_name not in FAMILIES:
        raise MLServerError(f"parameters.extra.type must be one of {', '.join(FAMILIES)}")
    family = registry.classifier_class(type_name)
    assert issubclass(family, SequenceClassifier)
    served_class = type(f"Served{family.__name__}", (_Facts, family), {})
    served = served_class(name, dict(options or {}))
    if served.settings.runtime == "remote":
        raise MLServerError("parameters.extra.options.runtime must be torch or onnx here")
    return served
