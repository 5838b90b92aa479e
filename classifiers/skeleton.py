"""The skeleton of a text: the letters a reader sees, in plain Latin where they look Latin.
Sans-IO, pure, linear in the text's length. On the classifiers' floor so that both the
pipeline's canonical views (proxy/pipeline/normalize.py) and a classifier that compares
texts it is given with texts of the context (classifiers/prompt_leak) fold text the same way.

``skeleton(text)``, for a text with any non-ASCII character (ASCII text is its own skeleton):

- a right-to-left override run (U+202E up to the next bidi control or line end) is written
  in the order it is displayed, so "\\u202etoidi" reads "idiot";
- compatibility forms become the ASCII letters and digits they stand for (NFKC, per
  character): fullwidth, mathematical and circled letters, ligatures ("\\ufb01" -> "fi"),
  superscripts, roman numerals. Punctuation and symbols keep their form ("\\uff0c", the CJK
  comma, and "\\u2122" stay), so CJK prose gets no view;
- a run of Unicode tag characters (U+E0020-E007E, invisible, each the tag of an ASCII
  character: "ASCII smuggling") reads as that ASCII text, as words of their own; an emoji's
  tag sequence (a subdivision flag after U+1F3F4) is removed;
- a run of two or more variation selectors (U+FE00-FE0F, U+E0100-E01EF: one after an emoji
  picks its glyph; a run of them hides bytes, one each, "emoji smuggling") reads as the
  UTF-8 text those bytes spell, as words of their own, when it spells printable text with
  a letter or digit;
- a run of invisible times and invisible plus signs (U+2062, U+2064: binary 0 and 1, words
  apart by a zero-width space, "sneaky bits") reads as the text those bits spell (8-bit
  UTF-8 bytes, or 7-bit ASCII letters), as words of their own, before format characters
  are removed;
- format characters (category Cf: zero-width space, word joiner, soft hyphen, bidi controls)
  are removed. ZWJ and ZWNJ stay, but next to an ASCII letter or digit: they join emoji
  sequences and Persian or Indic letters;
- an ASCII letter or digit that carries a combining mark with no composed form ("zalgo":
  stacked marks, strike-through and overlay marks) loses all its marks; the text is composed
  (NFC), so an accent with a composed form ("e\\u0301" -> "\\u00e9", Vietnamese "e\\u0323\\u0302"
  -> "\\u1ec7") stays, as accents do;
- look-alike letters of other scripts (Cyrillic "\\u0430", Greek "\\u03bf", Cherokee, small
  capitals...) become the Latin letters they look like, from Unicode's confusables data
  (TR39) as the ``disarm`` library folds it: letters only (a letter that looks like a digit
  or a sign stays). A text whose letters all can be Latin folds whole. Once it has a letter
  of another script with no Latin look-alike (Greek or Russian prose always has), a word
  folds when every letter of it can be Latin and it is mixed-script (it has a Latin letter)
  or the text is mostly ASCII: Greek or Russian prose keeps its words
  ("\\u041c\\u043e\\u0441\\u043a\\u0432\\u0430 \\u043c\\u0438\\u0440" stays), a disguised word in
  an English text folds. Letters of Latin alphabets ("\\u00e7", "\\u00f8", "\\u0142", Turkish
  dotless "\\u0131") are not disguises and stay.

Accents are kept ("Zo\\u00eb", "na\\u00efve", "caf\\u00e9" stay): an accent is not a disguise,
and stripping it would give every French, German or Vietnamese text a view (one more
classification) and change its words ("r\\u00e9sum\\u00e9"). Combining marks on letters of
other scripts are kept too.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import disarm

_JOINERS = frozenset("\u200c\u200d")
_OVERRIDE_RUN = re.compile("\u202e([^\u202a-\u202e\u2066-\u2069\n]*)")
_WORD = re.compile(r"[\w\u200c\u200d]+")
# A run of ZWJ/ZWNJ next to an ASCII letter or digit (anchored at the run's start: linear).
_JOINER_BY_ASCII = re.compile("(?<![\u200c\u200d])(?:(?<=[A-Za-z0-9])[\u200c\u200d]++"
                              "|[\u200c\u200d]++(?=[A-Za-z0-9]))")


_TAG_RUN = re.compile("(\U0001f3f4?)([\U000e0000-\U000e007f]+)")
# The 256 variation selectors (VS1-16, then VS17-256 in the supplement): one after an emoji
# or an ideograph picks its glyph; a run of them is bytes in hiding, one selector a byte.
_SELECTORS = frozenset(chr(code) for code in (*range(0xFE00, 0xFE10),
                                               *range(0xE0100, 0xE01F0)))
_SELECTOR_RUN = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef]{2,}")
# Invisible times (U+2062) and invisible plus (U+2064) as binary 0 and 1, words apart by a
# zero-width space ("sneaky bits"): 6 bits at least, or it is no character.
_BITS_RUN = re.compile("[\u2062\u2064]{6,}+(?:\u200b[\u2062\u2064]{6,}+)*+")
_MARKS = ("Mn", "Me")  # the categories of combining marks (nonspacing, enclosing)


def skeleton(text: str) -> str:
    """The text as a reader sees it, look-alike letters in Latin (see the module doc)."""
    if text.isascii():
        return text
    text = _OVERRIDE_RUN.sub(lambda run: run[1][::-1], text)
    if text and max(text) >= "\U000e0000":
        text = _TAG_RUN.sub(_tag_text, text)
    if not _SELECTORS.isdisjoint(text):
        text = _SELECTOR_RUN.sub(_selector_text, text)
    if "\u2062" in text or "\u2064" in text:
        text = _BITS_RUN.sub(_bits_text, text)
    if any(unicodedata.category(char) in _MARKS for char in set(text)):
        text = _without_zalgo(text)
    chars = set(text)
    compat = {ord(c): _compat(c) for c in chars if _compat(c) != c}
    if compat:
        text = text.translate(compat)
        chars = set(text)
    table = {ord(c): _lookalike(c) for c in chars if _lookalike(c)}
    if table:
        text = _fold_lookalikes(text, table, chars)
    return _JOINER_BY_ASCII.sub("", text) if chars & _JOINERS else text


def _without_zalgo(text: str) -> str:
    """The text composed (NFC), each ASCII letter or digit that carries a mark with no
    composed form (strike-through, overlay, stacked marks) bare: "i\u0301" is "\u00ed" but
    "i\u0301\u0316" is "i"."""
    decomposed = unicodedata.normalize("NFD", text)
    marks = "".join(re.escape(c) for c in set(decomposed) if unicodedata.category(c) in _MARKS)
    cluster = re.compile(f"([A-Za-z0-9])([{marks}]++)")
    return unicodedata.normalize("NFC", cluster.sub(_bare_if_zalgo, decomposed))


def _bare_if_zalgo(cluster: re.Match[str]) -> str:
    composed = unicodedata.normalize("NFC", cluster[0])
    return cluster[1] if any(unicodedata.category(c) in _MARKS for c in composed) else composed


def _tag_text(run: re.Match[str]) -> str:
    """A run of tag characters as the ASCII it tags, apart from the words around it; the
    tags of a subdivision flag (after U+1F3F4) are the flag's, not a message."""
    if run[1]:
        return run[1]
    message = "".join(chr(ord(tag) - 0xE0000) for tag in run[2]
                      if "\U000e0020" <= tag <= "\U000e007e")
    return f" {message} " if message.strip() else ""


def _selector_text(run: re.Match[str]) -> str:
    """A run of variation selectors as the UTF-8 text its bytes spell (VS1-16: bytes 0-15,
    VS17-256: 16-255), apart from the words around it; a run that spells no word (a
    selector typed twice) stays as it was."""
    data = bytes(ord(c) - 0xFE00 if c <= "\ufe0f" else ord(c) - 0xE0100 + 16 for c in run[0])
    message = data.decode("utf-8", "ignore")
    if not message.isprintable() or not any(c.isalnum() for c in message):
        return run[0]
    return f" {message} "


def _bits_text(run: re.Match[str]) -> str:
    """A run of invisible bits as the text they spell, apart from the words around it: each
    word (between zero-width spaces) as 8-bit UTF-8 bytes, or as 7-bit characters (ASCII
    letters written in as few bits as they take); a run that spells no word stays."""
    words = []
    for word in run[0].translate(_BIT_DIGITS).split("\u200b"):
        readings = [spelled for width in (8, 7) if (spelled := _spelled(word, width))]
        if not readings:
            return run[0]
        words.append(max(readings, key=lambda spelled: sum(c.isalpha() for c in spelled)
                         / len(spelled)))  # a word of 8 7-bit letters is 7 bytes too
    return f" {' '.join(words)} "


def _spelled(bits: str, width: int) -> str | None:
    """``bits`` read ``width`` to a character (UTF-8 bytes at 8), when they spell printable
    text with a letter or digit."""
    if len(bits) % width:
        return None
    try:
        spelled = bytes(int(bits[i:i + width], 2)
                        for i in range(0, len(bits), width)).decode("utf-8")
    except UnicodeDecodeError:
        return None
    return spelled if spelled.isprintable() and any(c.isalnum() for c in spelled) else None


_BIT_DIGITS = str.maketrans("\u2062\u2064", "01")


def _fold_lookalikes(text: str, table: dict[int, str], chars: set[str]) -> str:
    """Look-alikes in Latin: all at once when the text has no letter of another script
    without a look-alike; else in its mixed-script words, and in all its words that can be
    Latin when the text is mostly ASCII."""
    letters = [c for c in chars if c.isalpha() and not c.isascii() and ord(c) not in table]
    blockers = [c for c in letters if not _is_latin(c)]  # other scripts, no look-alike
    if not blockers:
        return text.translate(table)
    latin_context = 2 * len(text.encode("ascii", "ignore")) >= len(text)
    latin = "".join(re.escape(c) for c in letters if _is_latin(c))
    fold = _WordFold(table, _any_of(blockers), re.compile(f"[A-Za-z{latin}]"), latin_context)
    return _WORD.sub(fold, text)


@dataclass(frozen=True, slots=True)
class _WordFold:
    """How the words of one text fold: its look-alikes, the letters that keep a word as it
    is (other scripts', without a Latin look-alike), its Latin letters, its context."""

    table: dict[int, str]
    blockers: re.Pattern[str] | None
    latin: re.Pattern[str]
    latin_context: bool

    def __call__(self, match: re.Match[str]) -> str:
        word = match[0]
        folded = word if word.isascii() else word.translate(self.table)
        if folded == word or (self.blockers is not None and self.blockers.search(folded)):
            return word
        return folded if self.latin_context or self.latin.search(word) else word


def _any_of(chars: list[str]) -> re.Pattern[str] | None:
    return re.compile(f"[{''.join(map(re.escape, chars))}]") if chars else None


@lru_cache(maxsize=8192)
def _compat(char: str) -> str:
    """What one character reads as before look-alikes: '' for a format character (but the
    joiners); its NFKC form when that is ASCII letters or digits, or a single letter with a
    Latin look-alike (mathematical Greek); else the character itself."""
    if char.isascii():
        return char
    category = unicodedata.category(char)
    if category == "Cf":
        return char if char in _JOINERS else ""
    folded = unicodedata.normalize("NFKC", char)
    if folded == char or not folded.isalnum():
        return char
    if folded.isascii():  # "\u2122" (TM) is a sign, not letters in disguise
        return folded if category[0] in "LN" or len(folded) == 1 else char
    return folded if len(folded) == 1 and _lookalike(folded) else char


@lru_cache(maxsize=8192)
def _lookalike(char: str) -> str:
    """The ASCII letters a letter of another script looks like, or '' (TR39, via disarm).
    Latin letters fold only when they are small capitals (a font trick, not an alphabet)."""
    if char.isascii() or not char.isalpha():
        return ""
    if _is_latin(char) and "SMALL CAPITAL" not in unicodedata.name(char, ""):
        return ""
    folded = disarm.normalize_confusables(char)
    return folded if folded != char and folded.isascii() and folded.isalpha() else ""


@lru_cache(maxsize=8192)
def _is_latin(char: str) -> bool:
    return char.isascii() or unicodedata.name(char, "").startswith("LATIN")
