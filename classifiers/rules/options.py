"""The options of a ``type: rules`` check (a light module: pydantic, ``re`` and the rules'
own tables).

``detectors``: the built-in detectors to run (default: all, in :data:`BUILT_IN` order);
``phone_regions``: the national phone formats (default: all of
:data:`classifiers.rules.phones.REGIONS`); ``image_hosts``: where images may load from
(:mod:`classifiers.rules.links`); ``categories``: label -> keywords and patterns
(:class:`CategoryRules`). Every pattern compiles, or the config is refused.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Self

from pydantic import BeforeValidator, Field, field_validator, model_validator

from classifiers.options import ClassifierOptions, shown, shown_all
from classifiers.rules.builtin import BUILT_IN
from classifiers.rules.phones import FORMATS, REGIONS

_LABEL = re.compile(r"^[a-z][a-z0-9_]*$")


def _strings(value: Any) -> Any:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError("expected a list of non-empty strings")
    return value


NonEmptyStrings = Annotated[list[str], BeforeValidator(_strings)]


class CategoryRules(ClassifierOptions):
    """One operator category: whole-word keywords and Python regular expressions."""

    keywords: NonEmptyStrings = Field(default_factory=list)
    patterns: NonEmptyStrings = Field(default_factory=list)
    case_sensitive: bool = False

    @property
    def flags(self) -> int:
        return 0 if self.case_sensitive else re.IGNORECASE

    @model_validator(mode="after")
    def _usable(self) -> Self:
        if not self.keywords and not self.patterns:
            raise ValueError("give at least one keyword or pattern")
        for source in self.patterns:
            try:
                re.compile(source, self.flags)
            except re.error as exc:
                raise ValueError(f"patterns: invalid regular expression {shown(source)}: "
                                 f"{exc}") from None
        return self


class RulesOptions(ClassifierOptions):
    detectors: list[str] = Field(default_factory=lambda: list(BUILT_IN))
    phone_regions: list[str] | None = None
    # Hosts (globs: "cdn.example.com", "*.example.org") an answer's images may load from
    # (the remote_image detector, classifiers/rules/links.py); none by default.
    image_hosts: NonEmptyStrings = Field(default_factory=list)
    categories: dict[str, CategoryRules] = Field(default_factory=dict)

    @field_validator("detectors", mode="before")
    @classmethod
    def _known_detectors(cls, names: Any) -> Any:
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError("expected a list of detector names")
        if unknown := [n for n in names if n not in BUILT_IN]:
            raise ValueError(f"unknown {shown_all(unknown)}; built-in detectors: "
                             f"{list(BUILT_IN)}")
        return names

    @field_validator("phone_regions", mode="before")
    @classmethod
    def _known_regions(cls, regions: Any) -> Any:
        if regions is None:
            return None
        if not isinstance(regions, list) or not all(isinstance(r, str) for r in regions):
            raise ValueError("expected a list of region codes")
        if unknown := [r for r in regions if r.upper() not in FORMATS]:
            raise ValueError(f"unknown {shown_all(unknown)}; known: {list(REGIONS)}")
        return regions

    @field_validator("categories", mode="before")
    @classmethod
    def _labels(cls, categories: Any) -> Any:
        if not categories:
            return {}
        if not isinstance(categories, dict):
            raise ValueError("expected a mapping of label -> rules")
        if bad := [label for label in categories if not _LABEL.match(str(label))]:
            raise ValueError(f"{shown_all(bad)}: category names are lower_snake_case labels")
        if clashes := [label for label in categories if label in BUILT_IN]:
            raise ValueError(f"{shown_all(clashes)} clash with built-in labels")
        return categories
