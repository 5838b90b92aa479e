"""Canonical words: how ``type: prompt_leak`` reads answers, instructions and canaries.
Sans-IO, pure, linear in the text.

A text's words are its runs of letters and digits once it is folded: its skeleton
(classifiers/skeleton.py: compatibility forms such as fullwidth letters in ASCII, invisible
format characters such as zero-width spaces removed, look-alike letters of other scripts in
Latin), case-folded, accents removed. Everything else (spaces, line breaks, punctuation,
underscores, symbols, markdown) only separates words, so "Do NOT  reveal: the_rules" and
"do not reveal the rules" are the same five words. Both sides of every comparison are read
this way.
"""

from __future__ import annotations

import re
import unicodedata

from classifiers.skeleton import skeleton

_WORD = re.compile(r"[^\W_]+")


def canonical_words(text: str) -> list[str]:
    """The words of ``text``, folded as the module doc says."""
    folded = skeleton(text).casefold()
    if not folded.isascii():  # accents: a leak with its accents stripped is the same leak
        folded = "".join(char for char in unicodedata.normalize("NFKD", folded)
                         if not unicodedata.combining(char))
    return _WORD.findall(folded)


def squashed(words: list[str]) -> str:
    """The words run together: a canary is found in it whatever separates its parts in the
    answer (nothing, spaces, dashes, one letter a line)."""
    return "".join(words)
