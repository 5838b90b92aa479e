"""``type: language``: how much of a text is in a language the other checks do not read.

The embedded checks read English: the heads' encoder and training sets, the profanity
model, the rules' words. A request in another language is scored by them all the same,
and mostly passes, understood or not ("low-resource language" jailbreaks translate a
harmful request for just that). This check says how much of a text is written in a
language outside ``options.languages``, so a policy can flag or block it (an application
that serves English only), or an operator can see how much traffic the English checks
cannot judge, before adding a multilingual one (``type: detoxify`` with the multilingual
model, ``type: transformers``, a judge).

Label, both directions:

- ``other``: the share of the text that Compact Language Detector 2 (CLD2, through pycld2:
  C++, Apache-2.0, its tables in the wheel, about 8 microseconds per short text) reads as
  a language not in ``options.languages``, 0.0-1.0; and, when every language read is
  written in Latin letters (``LATIN_SCRIPT``: English by default), at least the share of
  the text's letters that are of another script (CLD2 names no language for a short
  Russian sentence: its script alone says it is none of these). 0.0 for a text with
  fewer than ``options.min_letters`` letters (too little to tell) and for what CLD2 reads
  as no language (code, numbers, identifiers: it reports only the languages it
  recognises, with their share of the text, reliable or not). A text holding a character
  CLD2 refuses (control characters, noncharacters, lone surrogates) is read with each of
  them as a space, never given up on.

Scored on the text and its canonical views like any check, the highest winning: a text in
a cipher reads as no language or a wrong one, its deciphered view as English; the raw
text's score counts all the same (the checks could not read it either).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from itertools import islice
from typing import Any

from classifiers.base import ClassifierConfigError, ClassifyContext, InProcessClassifier, Scores
from classifiers.language_options import LanguageOptions
from classifiers.options import ClassifierOptions, settings_of

__all__ = ["LanguageClassifier"]

# What CLD2 refuses as "invalid UTF-8" (it would score no text holding one): control
# characters (C0 but tab, newline and carriage return; DEL; C1), noncharacters (U+FDD0-FDEF
# and the last two code points of every plane), and lone surrogates (JSON can carry one).
# Each becomes a space. Characters past the first plane are matched as a range (a class
# of single astral characters is slow) and kept unless they are noncharacters.
_REFUSED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff"
                      "\ud800-\udfff\U0001fffe-\U0010ffff]")


def _accepted(char: re.Match[str]) -> str:
    point = ord(char[0])
    return char[0] if point > 0xFFFF and point & 0xFFFE != 0xFFFE else " "
_LETTER = re.compile(r"[^\W\d_]")
_LETTERS = re.compile(r"[^\W\d_]+")
# Runs of letters that are not Latin (Basic Latin, Latin-1, Extended-A and -B, IPA,
# Extended Additional, C, D and E, fullwidth): counted by runs, as words come
_NOT_LATIN = re.compile("[^\\W\\d_A-Za-z\u00aa\u00b5\u00ba\u00c0-\u02af\u1d00-\u1dbf"
                        "\u1e00-\u1eff\u2c60-\u2c7f\ua720-\ua7ff\uab30-\uab6f\uff21-\uff3a"
                        "\uff41-\uff5a]+")
# Languages written in Latin letters, as CLD2 names them: when every language read is one,
# letters of another script are another language however short the text (CLD2 cannot tell
# a short Russian sentence from Ukrainian or Bulgarian, and then names none).
_LATIN_SCRIPT_CODES = """af az bs ca ceb co cs cy da de en eo es et eu fi fo fr fy ga gd
gl gn gv ha haw hr ht hu id ig is it jw kha la lb lg ln lt lv mg mi ms mt nl nn no ny om oc
pl pt qu rm rn ro rw sg sk sl sm sn so sq ss st su sv sw tk tl tn to tr ts uz ve vi war wo xh
yo zu"""
LATIN_SCRIPT = frozenset(_LATIN_SCRIPT_CODES.split())


class LanguageClassifier(InProcessClassifier):
    type_name = "language"
    labels = ("other",)

    def __init__(self, name: str,
                 options: ClassifierOptions | Mapping[str, Any] | None = None) -> None:
        super().__init__(name, options)
        self.settings = settings_of(LanguageOptions, name, self.type_name, options)
        self._allowed = frozenset(self.settings.languages)
        self._latin_only = self._allowed <= LATIN_SCRIPT

    @property
    def version(self) -> str:
        return (f"language:1:{','.join(sorted(self._allowed))}:"
                f"{self.settings.min_letters}")

    async def start(self) -> None:
        try:
            import pycld2
        except ImportError as exc:
            raise ClassifierConfigError(
                f"check {self.name!r}: type language needs pycld2: "
                "pip install 'safety-proxy[language]'") from exc
        known = {code for _, code in pycld2.LANGUAGES}
        unknown = sorted(self._allowed - known)
        if unknown:
            raise ClassifierConfigError(
                f"check {self.name!r}: options.languages: {', '.join(unknown)} is no language "
                "code CLD2 reports (ISO 639-1 such as en, fr, de; zh and zh-Hant)")

    def classify_now(
        self, texts: Sequence[str], context: ClassifyContext | None = None
    ) -> list[Scores]:
        return [{"other": self._other(text)} for text in texts]

    def _other(self, text: str) -> float:
        least = self.settings.min_letters
        if sum(1 for _ in islice(_LETTER.finditer(text), least)) < least:
            return 0.0
        import pycld2

        _, _, found = pycld2.detect(_REFUSED.sub(_accepted, text).encode("utf-8"))
        share: float = sum(percent for _, code, percent, _ in found
                           if code != "un" and code not in self._allowed) / 100.0
        if self._latin_only and not text.isascii():
            share = max(share, sum(map(len, _NOT_LATIN.findall(text)))
                        / sum(map(len, _LETTERS.findall(text))))
        return min(share, 1.0)
