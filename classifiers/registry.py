"""Maps a config ``type:`` to a classifier class and to the model of its options.

Nothing outside this module imports a concrete classifier. Families that need optional
dependencies (torch, onnxruntime, sentence models) are imported lazily, so the core proxy
runs without them and a config naming one gets a clear message if the extra is missing.
Options models live in light modules (classifiers/options.py): the config loader validates
every check's options through :func:`parse_options` without importing the classifier, so
``check-config --no-start`` refuses a typo even where the family's extra is not installed.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from classifiers.base import Classifier, ClassifierConfigError
from classifiers.options import ClassifierOptions
from classifiers.options import parse_options as parse


@dataclass(frozen=True, slots=True)
class ClassifierType:
    module: str
    class_name: str
    extra: str | None = None  # the pip extra that provides the module's dependencies
    # "module:Class" of the options model, in a light module; None: the options are passed
    # to the class as a plain dict (test-scripted types)
    options: str | None = None


_TYPES: dict[str, ClassifierType] = {
    "profanity": ClassifierType("classifiers.profanity", "ProfanityClassifier",
                                options="classifiers.profanity_options:ProfanityOptions"),
    "refusal": ClassifierType("classifiers.refusal", "RefusalClassifier",
                              options="classifiers.refusal.options:RefusalOptions"),
    "detoxify": ClassifierType("classifiers.detoxify", "DetoxifyClassifier", "detoxify",
                               options="classifiers.detoxify.options:DetoxifyOptions"),
    # torch + transformers, which the detoxify extra holds
    "transformers": ClassifierType("classifiers.hf", "TransformersClassifier", "detoxify",
                                   options="classifiers.hf.options:TransformersOptions"),
    "rules": ClassifierType("classifiers.rules", "RulesClassifier",
                            options="classifiers.rules.options:RulesOptions"),
    "language": ClassifierType("classifiers.language", "LanguageClassifier", "language",
                               options="classifiers.language_options:LanguageOptions"),
    "prompt_leak": ClassifierType("classifiers.prompt_leak", "PromptLeakClassifier",
                                  options="classifiers.prompt_leak.options:PromptLeakOptions"),
    "semantic": ClassifierType("classifiers.semantic", "SemanticClassifier", "semantic",
                               options="classifiers.semantic.options:SemanticOptions"),
    "heads": ClassifierType("classifiers.heads", "HeadsClassifier", "semantic",
                            options="classifiers.heads.options:HeadsOptions"),
    "rubric": ClassifierType("classifiers.rubric", "RubricClassifier",
                             options="classifiers.rubric.options:RubricOptions"),
    "llama_guard": ClassifierType("classifiers.llama_guard", "LlamaGuardClassifier",
                                  options="classifiers.judge_options:LlamaGuardOptions"),
}


def register(type_name: str, module: str, class_name: str, extra: str | None = None,
             options: str | None = None) -> None:
    """Adds a classifier type (used by families and by tests that script a classifier);
    ``options``: "module:Class" of its options model, if it has one."""
    _TYPES[type_name] = ClassifierType(module, class_name, extra, options)


def known_types() -> list[str]:
    return sorted(_TYPES)


def classifier_class(type_name: str) -> type[Classifier]:
    kind = _type(type_name)
    cls: type[Classifier] = getattr(_import(kind.module, type_name, kind.extra),
                                    kind.class_name)
    return cls


def options_model(type_name: str) -> type[ClassifierOptions] | None:
    """The model of the type's options; None for a type registered without one."""
    kind = _type(type_name)
    if kind.options is None:
        return None
    module, _, name = kind.options.partition(":")
    model: type[ClassifierOptions] = getattr(_import(module, type_name, kind.extra), name)
    return model


def parse_options(type_name: str, check: str,
                  raw: Mapping[str, Any] | None) -> ClassifierOptions | dict[str, Any]:
    """A check's options, parsed by its type's model (ClassifierOptionsError names each bad
    key); as a plain dict for a type without a model."""
    model = options_model(type_name)
    return dict(raw or {}) if model is None else parse(model, check, type_name, raw)


def build(type_name: str, name: str,
          options: ClassifierOptions | Mapping[str, Any] | None = None) -> Classifier:
    """Makes an unstarted classifier; call ``await classifier.start()`` before use.
    ``options``: as :func:`parse_options` returned them, or a mapping to parse."""
    return classifier_class(type_name)(name, options)


def _type(type_name: str) -> ClassifierType:
    try:
        return _TYPES[type_name]
    except KeyError:
        raise ClassifierConfigError(
            f"unknown classifier type {type_name!r}; known types: {', '.join(known_types())}"
        ) from None


def _import(module_name: str, type_name: str, extra: str | None) -> Any:
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        hint = (f" (install it from the safety-proxy checkout: pip install '.[{extra}]')"
                if extra else "")
        raise ClassifierConfigError(
            f"classifier type {type_name!r} needs the missing package {exc.name!r}{hint}"
        ) from exc
