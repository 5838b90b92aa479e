"""scikit-learn's word analyzer (``TfidfVectorizer(analyzer="word")``), in the standard library.

Contract: ``WordAnalyzer.from_settings(settings)(text)`` returns the same features, in the
same order, as the vectorizer's ``build_analyzer()(text)`` for the settings the export
script writes: lowercase (``str.lower``), then accents (``None``, ``"ascii"`` or
``"unicode"``, as ``strip_accents_ascii`` / ``strip_accents_unicode``), then
``re.findall(token_pattern)``, then stop words dropped, then word n-grams joined by one
space (all unigrams first, then bigrams...). Custom callables are refused at export.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


def strip_accents_ascii(text: str) -> str:
    """NFKD, then drop every character that is not ASCII."""
    return unicodedata.normalize("NFKD", text).encode("ASCII", "ignore").decode("ASCII")


def strip_accents_unicode(text: str) -> str:
    """NFKD, then drop combining marks; an ASCII text is returned unchanged (as sklearn)."""
    if text.isascii():
        return text
    normalized = unicodedata.normalize("NFKD", text)
    return "".join([c for c in normalized if not unicodedata.combining(c)])


ACCENT_FUNCTIONS: dict[str | None, Callable[[str], str] | None] = {
    None: None, "ascii": strip_accents_ascii, "unicode": strip_accents_unicode}

# Token patterns findall reads the same as a faster one. sklearn's default: a run of two or
# more word characters; a greedy \w\w+ ends where the word does, and findall, resuming
# where the last match ended, only ever starts one at a word's start, so the boundaries
# test nothing there. Without a \b first, re skips to each word character in C (the
# bench's answer: 4.7 -> 3.2 us; tests/classifiers/test_profanity_numpy.py compares).
EQUIVALENT_PATTERNS = {r"(?u)\b\w\w+\b": r"(?u)\w\w+"}


def word_ngrams(tokens: list[str], ngram_range: tuple[int, int]) -> list[str]:
    """sklearn's ``_word_ngrams`` after stop words: every n in range, shortest first."""
    min_n, max_n = ngram_range
    if max_n == 1:
        return tokens
    grams = list(tokens) if min_n == 1 else []
    for n in range(max(min_n, 2), min(max_n, len(tokens)) + 1):
        grams.extend(" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1))
    return grams


@dataclass(frozen=True, slots=True)
class WordAnalyzer:
    """Text -> features (tokens and n-grams), as the fitted vectorizer's analyzer."""

    lowercase: bool
    strip_accents: Callable[[str], str] | None
    token_pattern: re.Pattern[str]
    stop_words: frozenset[str] | None
    ngram_range: tuple[int, int]

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> WordAnalyzer:
        """Builds from the ``analyzer`` section of the exported ``settings.json``."""
        pattern = re.compile(EQUIVALENT_PATTERNS.get(settings["token_pattern"],
                                                     settings["token_pattern"]))
        if pattern.groups > 1:
            raise ValueError("token_pattern has more than one capturing group")
        stop_words = settings["stop_words"]
        low, high = settings["ngram_range"]
        return cls(lowercase=bool(settings["lowercase"]),
                   strip_accents=ACCENT_FUNCTIONS[settings["strip_accents"]],
                   token_pattern=pattern,
                   stop_words=None if stop_words is None else frozenset(stop_words),
                   ngram_range=(int(low), int(high)))

    def __call__(self, text: str) -> list[str]:
        tokens = self.tokens(text)
        if self.stop_words is not None:
            tokens = [t for t in tokens if t not in self.stop_words]
        return word_ngrams(tokens, self.ngram_range)

    def tokens(self, text: str) -> list[str]:
        """The text's tokens, stop words included: lowercase, accents, the token pattern."""
        if self.lowercase:
            text = text.lower()
        if self.strip_accents is not None:
            text = self.strip_accents(text)
        tokens: list[str] = self.token_pattern.findall(text)
        return tokens
