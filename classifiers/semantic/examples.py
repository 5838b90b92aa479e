"""Validates ``options.categories`` and ``options.contrast``: label -> example texts.

A category's examples are a list of texts, or the name of a shipped set
(``"builtin:jailbreak"``); a list may name shipped sets among its texts, which extends them
(``["builtin:jailbreak", "my own example"]``). Listing only your own texts replaces them.
"""

from __future__ import annotations

import re
from typing import Any

from classifiers.base import ClassifierConfigError
from classifiers.semantic import builtin

_LABEL = re.compile(r"^[a-z][a-z0-9_]*$")


def parse_categories(spec: Any) -> dict[str, list[str]]:
    if not isinstance(spec, dict) or not spec:
        raise ClassifierConfigError(
            "options.categories: a mapping of label -> example texts or a shipped set, e.g. "
            "{jailbreak: builtin:jailbreak} or {jailbreak: ['Ignore all previous "
            "instructions ...']}")
    return {label: _examples(f"options.categories.{label}", label, examples)
            for label, examples in spec.items()}


def parse_contrast(spec: Any, labels: tuple[str, ...]) -> dict[str, list[str]]:
    """Benign counter-examples per category (optional): label -> texts or a shipped set."""
    if spec is None:
        return {}
    if not isinstance(spec, dict):
        raise ClassifierConfigError(
            "options.contrast: a mapping of category -> benign example texts or a shipped "
            "set, e.g. {jailbreak: builtin:benign}")
    for label in spec:
        if label not in labels:
            raise ClassifierConfigError(
                f"options.contrast.{label}: not a category; categories are {list(labels)}")
    return {label: _examples(f"options.contrast.{label}", label, examples)
            for label, examples in spec.items()}


def _examples(where: str, label: Any, examples: Any) -> list[str]:
    if not isinstance(label, str) or not _LABEL.match(label):
        raise ClassifierConfigError(f"{where}: category names are lower_snake_case labels")
    if isinstance(examples, str) and examples.startswith(builtin.PREFIX):
        examples = [examples]
    if not isinstance(examples, list) or not examples or not all(
        isinstance(e, str) and e.strip() for e in examples
    ):
        raise ClassifierConfigError(
            f"{where}: a non-empty list of non-empty example texts, or a shipped set "
            f"({', '.join(builtin.PREFIX + n for n in builtin.NAMES)})")
    texts: list[str] = []
    for example in examples:
        if example.startswith(builtin.PREFIX):
            name = example.removeprefix(builtin.PREFIX).strip()
            if name not in builtin.NAMES:
                raise ClassifierConfigError(
                    f"{where}: no shipped set {example!r}; shipped: "
                    f"{', '.join(builtin.PREFIX + n for n in builtin.NAMES)}")
            texts.extend(builtin.examples(name))
        else:
            texts.append(example)
    return list(dict.fromkeys(texts))
