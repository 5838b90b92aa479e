"""Maps a config ``type:`` to a classifier class.

Nothing outside this module imports a concrete classifier. Families that need optional
dependencies (torch, onnxruntime, sentence models) are imported lazily, so the core proxy
runs without them and a config naming one gets a clear message if the extra is missing.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from classifiers.base import Classifier, ClassifierConfigError

# type name -> (module, class name, pip extra that provides its dependencies)
_TYPES: dict[str, tuple[str, str, str | None]] = {
    "profanity": ("classifiers.profanity", "ProfanityClassifier", None),
    "refusal": ("classifiers.refusal", "RefusalClassifier", None),
    "detoxify": ("classifiers.detoxify", "DetoxifyClassifier", "detoxify"),
    # torch + transformers, which the detoxify extra holds
    "transformers": ("classifiers.hf", "TransformersClassifier", "detoxify"),
    "rules": ("classifiers.rules", "RulesClassifier", None),
    "semantic": ("classifiers.semantic", "SemanticClassifier", "semantic"),
    "heads": ("classifiers.heads", "HeadsClassifier", "semantic"),
    "rubric": ("classifiers.rubric", "RubricClassifier", None),
    "llama_guard": ("classifiers.llama_guard", "LlamaGuardClassifier", None),
}


def register(type_name: str, module: str, class_name: str, extra: str | None = None) -> None:
    """Adds a classifier type (used by families and by tests that script a classifier)."""
    _TYPES[type_name] = (module, class_name, extra)


def known_types() -> list[str]:
    return sorted(_TYPES)


def classifier_class(type_name: str) -> type[Classifier]:
    try:
        module_name, class_name, extra = _TYPES[type_name]
    except KeyError:
        raise ClassifierConfigError(
            f"unknown classifier type {type_name!r}; known types: {', '.join(known_types())}"
        ) from None
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        hint = (f" (install it from the safety-proxy checkout: pip install '.[{extra}]')"
                if extra else "")
        raise ClassifierConfigError(
            f"classifier type {type_name!r} needs the missing package {exc.name!r}{hint}"
        ) from exc
    cls: type[Classifier] = getattr(module, class_name)
    return cls


def build(type_name: str, name: str, options: Mapping[str, Any] | None = None) -> Classifier:
    """Makes an unstarted classifier; call ``await classifier.start()`` before use."""
    return classifier_class(type_name)(name, options)
