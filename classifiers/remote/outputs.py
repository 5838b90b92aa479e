"""A remote model's outputs as a family's ``adopt`` reads a local engine's (classifier.py's
ModelOutputs): the output columns' names, and the activation when the server publishes it.

Our MLServer runtime (mlserver_runtime.py) publishes, in the model's metadata parameters,
``labels`` (the model's own class names, before any family mapping: the proxy maps them as
it maps a local model's), ``activation`` and ``fingerprint`` (of the weights), so a cached
verdict is never reused across a change of weights on the server. Another server may
publish none of them: the check's ``remote.labels`` then names the columns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from classifiers.remote.protocol import ModelFacts
from classifiers.sequence.activation import Activation

_FINGERPRINT = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


@dataclass(frozen=True, slots=True)
class RemoteOutputs:
    class_names: tuple[str, ...]
    activation: Activation | None

    @classmethod
    def of(cls, facts: ModelFacts) -> RemoteOutputs:
        published = facts.parameters.get("activation")
        activation: Activation | None = (
            "sigmoid" if published == "sigmoid" else "softmax" if published == "softmax"
            else None)
        return cls(facts.class_names, activation)

    @staticmethod
    def fingerprint_of(facts: ModelFacts) -> str:
        """The server's fingerprint of its weights, or ``unpublished``."""
        published = facts.parameters.get("fingerprint")
        if isinstance(published, str) and _FINGERPRINT.fullmatch(published):
            return published
        return "unpublished"
