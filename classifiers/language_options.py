"""The options of a ``type: language`` check (a light module: pydantic only).

``languages``: the languages the other checks read, as CLD2 names them (ISO 639-1: ``en``,
``fr``, ``de``; ``zh`` and ``zh-Hant``); the check's start refuses a code CLD2 does not
report. ``min_letters``: a text with fewer letters scores 0 (too little to tell a language
by).
"""

from __future__ import annotations

from pydantic import Field

from classifiers.options import ClassifierOptions


class LanguageOptions(ClassifierOptions):
    languages: tuple[str, ...] = Field(("en",), min_length=1)
    min_letters: int = Field(12, ge=1)
