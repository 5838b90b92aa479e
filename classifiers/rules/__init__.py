"""``type: rules``: regular expressions, keyword lists and built-in PII / secret detectors.

Labels: the enabled built-in detectors (``email``, ``phone``, ``payment_card``, ``iban``,
``us_ssn``, ``secret``; all by default, or the list in ``options.detectors``) followed by
the operator's categories (``options.categories``). ``options.phone_regions`` chooses the
phone formats (default: all of :data:`classifiers.rules.phones.REGIONS`). Scores are 1.0
when a label matched and 0.0 otherwise. :meth:`RulesClassifier.redact` masks the matched
spans of chosen labels (the pipeline uses it for ``redact`` actions on input). Costs about
0.2 ms per 1,000 characters, linear in the text.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from classifiers.base import Classifier, ClassifierConfigError, ClassifyContext, Scores
from classifiers.rules.categories import category_detectors
from classifiers.rules.personal_data import PERSONAL_DATA
from classifiers.rules.phones import phone_detectors
from classifiers.rules.secrets import SECRET_DETECTORS
from classifiers.rules.spans import Detector, Span, mask

BUILT_IN: dict[str, tuple[Detector, ...]] = {
    **PERSONAL_DATA,
    "secret": SECRET_DETECTORS,
}
_OPTIONS = {"detectors", "categories", "phone_regions"}


def _built_in(options: Mapping[str, Any]) -> dict[str, tuple[Detector, ...]]:
    names = options.get("detectors", list(BUILT_IN))
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ClassifierConfigError("options.detectors: expected a list of detector names")
    unknown = [n for n in names if n not in BUILT_IN]
    if unknown:
        raise ClassifierConfigError(
            f"options.detectors: unknown {unknown}; built-in detectors: {list(BUILT_IN)}")
    chosen = {name: BUILT_IN[name] for name in names}
    if "phone_regions" in options:
        phones = phone_detectors(options["phone_regions"])  # validated even if unused
        if "phone" in chosen:
            chosen["phone"] = phones
    return chosen


def _categories(
    options: Mapping[str, Any], taken: Collection[str]
) -> dict[str, tuple[Detector, ...]]:
    categories = options.get("categories") or {}
    if not isinstance(categories, Mapping):
        raise ClassifierConfigError("options.categories: expected a mapping of label -> rules")
    clashes = [label for label in categories if label in taken]
    if clashes:
        raise ClassifierConfigError(f"options.categories: {clashes} clash with built-in labels")
    return {label: tuple(category_detectors(label, spec)) for label, spec in categories.items()}


class RulesClassifier(Classifier):
    type_name = "rules"

    def __init__(self, name: str, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(name, options)
        unknown = set(self.options) - _OPTIONS
        if unknown:
            raise ClassifierConfigError(
                f"unknown options {sorted(unknown)}; known: {sorted(_OPTIONS)}")
        built_in = _built_in(self.options)
        self._detectors = {**built_in, **_categories(self.options, BUILT_IN)}
        self.labels = tuple(self._detectors)
        # the built-in detectors find personal data and secrets; the operator's own
        # categories (project names...) stay readable in records
        self.sensitive_labels = frozenset(built_in)
        digest = json.dumps(self.options, sort_keys=True, default=str).encode()
        self._version = f"rules:1:{hashlib.sha256(digest).hexdigest()[:12]}"

    @property
    def version(self) -> str:
        return self._version

    def scores(self, text: str) -> Scores:
        return {
            label: 1.0 if any(d.found_in(text) for d in detectors) else 0.0
            for label, detectors in self._detectors.items()
        }

    def spans(self, text: str, labels: Collection[str]) -> list[Span]:
        return [
            span
            for label in labels
            for detector in self._detectors.get(label, ())
            for span in detector.spans(text)
        ]

    def redact(self, text: str, labels: Collection[str]) -> tuple[str, int]:
        """Masks every matched span of ``labels`` as ``[REDACTED:label]``; returns (text, count).

        Synchronous and fast (regular expressions only); unknown labels are ignored.
        """
        return mask(text, self.spans(text, labels))

    async def classify(
        self, texts: Sequence[str], context: ClassifyContext | None = None
    ) -> list[Scores]:
        return [self.scores(text) for text in texts]
