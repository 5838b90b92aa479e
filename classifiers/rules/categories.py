"""Operator categories from the config: keyword lists and regular expressions per label.

Options shape (under the check's ``options.categories``)::

    banned_topics:
      keywords: [acme merger, project falcon]   # whole words/phrases
      patterns: ['\\binternal[- ]only\\b']       # Python regular expressions
      case_sensitive: false                     # default false

Keywords match as whole words (not inside a longer word) with their regex
metacharacters escaped. Patterns are the operator's own: Python's ``re`` has no
timeout, so a pattern with nested quantifiers can be slow on long texts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from classifiers.base import ClassifierConfigError
from classifiers.rules.spans import Detector

_LABEL = re.compile(r"^[a-z][a-z0-9_]*$")
_FIELDS = {"keywords", "patterns", "case_sensitive"}


def _strings(where: str, value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ClassifierConfigError(f"{where}: expected a list of non-empty strings")
    return value


def _compile(where: str, source: str, flags: int) -> re.Pattern[str]:
    try:
        return re.compile(source, flags)
    except re.error as exc:
        message = f"{where}: invalid regular expression {source!r}: {exc}"
        raise ClassifierConfigError(message) from None


def category_detectors(label: str, spec: Any) -> list[Detector]:
    where = f"options.categories.{label}"
    if not _LABEL.match(label):
        raise ClassifierConfigError(f"{where}: category names are lower_snake_case labels")
    if not isinstance(spec, Mapping) or set(spec) - _FIELDS:
        raise ClassifierConfigError(f"{where}: expected a mapping with keys {sorted(_FIELDS)}")
    flags = 0 if spec.get("case_sensitive", False) else re.IGNORECASE
    keywords = _strings(f"{where}.keywords", spec.get("keywords"))
    patterns = _strings(f"{where}.patterns", spec.get("patterns"))
    if not keywords and not patterns:
        raise ClassifierConfigError(f"{where}: give at least one keyword or pattern")
    detectors = [Detector(label, _compile(f"{where}.patterns", p, flags)) for p in patterns]
    if keywords:
        alternatives = "|".join(re.escape(k) for k in sorted(keywords, key=len, reverse=True))
        keyword_pattern = rf"(?<!\w)(?:{alternatives})(?!\w)"
        detectors.append(Detector(label, _compile(f"{where}.keywords", keyword_pattern, flags)))
    return detectors
