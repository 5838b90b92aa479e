"""``type: detoxify``: the Detoxify toxicity models, served for a busy proxy.

Labels (fixed across models, see labels.py): toxicity, severe_toxicity, obscene, threat,
insult, identity_attack, and sexual_explicit for the unbiased and multilingual models.
The model loads through Detoxify's own code (loading.py) and is served by the shared
sequence-classification package (classifiers/sequence/): micro-batched off the event
loop, long texts as overlapping windows, torch or ONNX Runtime with optional int8
weights, sigmoid scores. Options: options.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from classifiers.base import ClassifierConfigError
from classifiers.detoxify.labels import EXPECTED, normalise
from classifiers.detoxify.loading import load
from classifiers.detoxify.options import DetoxifyOptions
from classifiers.options import ClassifierOptions
from classifiers.sequence.classifier import ModelOutputs, SequenceClassifier
from classifiers.sequence.engine import Engine, build_engine

__all__ = ["DetoxifyClassifier"]


class DetoxifyClassifier(SequenceClassifier):
    type_name = "detoxify"
    options_class = DetoxifyOptions
    packages = ("torch", "transformers", "detoxify")
    settings: DetoxifyOptions

    def __init__(self, name: str, options: ClassifierOptions | Mapping[str, Any] | None = None
                 ) -> None:
        super().__init__(name, options)
        self.labels = EXPECTED[self.settings.model]

    @property
    def version(self) -> str:
        s = self.settings
        return (f"detoxify:{s.model}:{self._fingerprint}:{s.runtime_tag()}:"
                f"{s.windows_tag()}")

    def build_engine(self) -> Engine:
        # Detoxify's classes are independent: sigmoid scores.
        return build_engine(self.settings, lambda: load(self.settings), lambda _: "sigmoid")

    def adopt(self, engine: ModelOutputs) -> None:
        self._columns = normalise(engine.class_names)
        if not self._columns:
            raise ClassifierConfigError(
                f"detoxify: the checkpoint's classes {list(engine.class_names)} include none of "
                f"the Detoxify labels {list(EXPECTED['unbiased'])}"
            )
        self.labels = tuple(self._columns)
