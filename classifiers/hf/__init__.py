"""``type: transformers``: any Hugging Face sequence-classification model, served for a busy
proxy (Prompt-Guard, injection detectors, toxic-bert, moderation models...).

The model and tokenizer load with transformers' Auto classes from a local folder or a hub id
(loading.py); labels come from the config's ``id2label`` (labels.py); scores are the
sigmoid (multi-label) or softmax (single-label) of its logits. Serving is the shared
sequence-classification package (classifiers/sequence/), the same as ``type: detoxify``:
micro-batched off the event loop, long texts as overlapping windows (each label takes
its highest window score), torch or ONNX Runtime with optional int8 weights.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from classifiers.hf.labels import choose_activation, label_columns
from classifiers.hf.loading import load
from classifiers.hf.options import TransformersOptions
from classifiers.options import ClassifierOptions
from classifiers.sequence.activation import Activation
from classifiers.sequence.classifier import ModelOutputs, SequenceClassifier
from classifiers.sequence.engine import Engine, build_engine

__all__ = ["TransformersClassifier"]


class TransformersClassifier(SequenceClassifier):
    type_name = "transformers"
    options_class = TransformersOptions
    settings: TransformersOptions

    def __init__(self, name: str, options: ClassifierOptions | Mapping[str, Any] | None = None
                 ) -> None:
        super().__init__(name, options)
        self._activation: Activation | None = None

    @property
    def version(self) -> str:
        """Changes with the weights, activation, runtime, windowing and label names (the
        verdict cache stores scores by label name)."""
        s = self.settings
        names = hashlib.sha256("\x1f".join(self.labels).encode()).hexdigest()[:8]
        return (f"transformers:{self._fingerprint}:{self._activation or s.activation}:"
                f"{s.runtime_tag()}:{s.windows_tag()}:l{names}")

    def build_engine(self) -> Engine:
        return build_engine(self.settings, lambda: load(self.settings),
                            lambda loaded: choose_activation(self.settings.activation,
                                                             loaded.model.config))

    def adopt(self, engine: ModelOutputs) -> None:
        self._columns = label_columns(engine.class_names, self.settings.labels)
        self.labels = tuple(self._columns)
        self._activation = engine.activation
