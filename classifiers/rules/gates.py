"""Cheap necessary conditions that let a detector skip a text without running its pattern.

A pattern that opens with a look-behind makes Python's ``re`` try every position; a gate
that opens with a character class or is a plain substring test skips ahead in C. Gates are
shared by several detectors, so their answers for the last two texts are cached (a
``str`` caches its hash, so a repeated look-up is cheap). A gate must never say no to a
text that one of its detectors would match.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

Gate = Callable[[str], bool]

_DIGIT_RUN = re.compile(r"\d(?:[ ().\-/]{0,3}\d){7}")  # 8+ digits, few separators
_IBAN_BODY = re.compile(r"\d\d(?:[ -]?[A-Za-z0-9]){11}")


@lru_cache(maxsize=2)
def eight_digits(text: str) -> bool:
    """Phones, cards and SSNs all have at least 8 digits with short separators."""
    return _DIGIT_RUN.search(text) is not None


def iban_body(text: str) -> bool:
    return _IBAN_BODY.search(text) is not None


@lru_cache(maxsize=2)
def lowered(text: str) -> str:
    return text.lower()


def any_of(*needles: str) -> Gate:
    """True when the lower-cased text contains one of ``needles`` (lower-case)."""
    def gate(text: str) -> bool:
        folded = lowered(text)
        return any(needle in folded for needle in needles)
    return gate
