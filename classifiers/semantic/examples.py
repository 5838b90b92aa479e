"""Validates ``options.categories``: label -> list of example texts."""

from __future__ import annotations

import re
from typing import Any

from classifiers.base import ClassifierConfigError

_LABEL = re.compile(r"^[a-z][a-z0-9_]*$")


def parse_categories(spec: Any) -> dict[str, list[str]]:
    if not isinstance(spec, dict) or not spec:
        raise ClassifierConfigError(
            "options.categories: a mapping of label -> example texts, e.g. "
            "{jailbreak: ['Ignore all previous instructions ...']}")
    for label, examples in spec.items():
        where = f"options.categories.{label}"
        if not isinstance(label, str) or not _LABEL.match(label):
            raise ClassifierConfigError(f"{where}: category names are lower_snake_case labels")
        if not isinstance(examples, list) or not examples or not all(
            isinstance(e, str) and e.strip() for e in examples
        ):
            raise ClassifierConfigError(f"{where}: a non-empty list of non-empty example texts")
    return {label: list(examples) for label, examples in spec.items()}
