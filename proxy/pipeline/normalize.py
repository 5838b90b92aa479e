"""Canonical views of a text: the same text with its disguises folded, for the checks to score.
Sans-IO.

``canonical_views(text)`` returns the views that differ from ``text``, in this order and
without duplicates (``[]`` when there is nothing to fold, the common case):

1. skeleton: compatibility forms (NFKC) as ASCII, format characters (zero-width, bidi
   controls, soft hyphen, word joiner) removed, a right-to-left override read in display
   order, look-alike letters of other scripts in Latin. classifiers/skeleton.py says
   exactly what folds and what stays (accents stay);
2. deleet, on the skeleton: in a token that mixes Latin letters with 0 1 3 4 5 7 @ $, those
   become o i e a s t a s ("1d10t" -> "idiot", "57up1d" -> "stupid", "$hit" -> "shit"), and
   a ! or * between two letters becomes i or u ("sh!t", "f*ck"). What is not a word in
   disguise stays: tokens without a letter ("2024", "$5", "3.14"), of two characters ("Q1",
   "3D") or over 16, a number of two digits or more and a word ("24mm", "base64"), a
   capitalised name and a digit ("HTML5", "Person1"; "SH1T" folds), shell variables
   ("$HOME"), ordinals ("4th", "1990s"), snake_case names, hex ids, e-mail addresses;
3. joined, on the deleeted text: three or more single letters (or leet digits) with one same
   separator between them (space . - _ * | + ~) become one word ("i d i o t", "i.d.i.o.t"
   -> "idiot"), then deleet again ("i d 1 o t"). A leading I, a or A may be a word of its own
   ("I h a t e", "a s c u m") or the word's first letter ("a s s h o l e"): the first joined
   view keeps it apart ("I hate"), a second one, when it differs, joins it ("asshole");
4. decoded, on the skeleton: each run of 16+ base64 characters (valid padding, length a
   multiple of 4), of 16+ hex digits (even length), of %XX escapes, of backslash escapes
   or HTML character references, of binary octets or decimal character codes, of Morse
   code, Braille or base32 is replaced by its decoding when that is text
   (normalize_decode.py says exactly when); then the skeleton, deleet and
   joined views of that decoded text. A run is decoded once: what a decoding yields is never
   decoded again, and a decoding is never longer than its run;
5. deciphered, on the skeleton: a text written in a simple cipher (a Caesar shift such as
   ROT13, Atbash, letters reversed in each word or in the whole text) read back, when it
   holds enciphered spellings of common English words, and a text spelled out in the NATO
   alphabet read as its letters (normalize_cipher.py says which and how many).

Contract: the views are only scored (the pipeline keeps, per label, the highest score over
the text and its views); the upstream never sees them. The function is pure, deterministic
and bounded: every step is a linear pass (regexes anchored at token starts, possessive where
they could backtrack), a view is at most a few times longer than the text (NFKC spells a
ligature or a roman numeral in letters), and a 1 MB text takes well under a second
(bench/normalize.py measures it: 0.01 s plain, under 0.6 s for 1 MB of every disguise).
Each fold runs only when a byte-class scan of the text finds what it folds, so ASCII text
with no letter-digit mix, no run of single letters, no long base64/hex/%-run, no backslash
or "&#", no numbers apart and no ".-" or "-." returns []
on a fast path: a few C-speed passes, no regex (about 40 us for 4,000 characters, 25 of
them the cipher scan's set of words).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from classifiers.skeleton import skeleton
from proxy.pipeline.normalize_cipher import ciphers_in, deciphered
from proxy.pipeline.normalize_decode import decoded

__all__ = ["canonical_views", "deciphered", "decoded", "deleet", "joined", "skeleton"]

_TOKEN = r"[\w@$!*]"
# A token deleet reads: it holds a leet digit or sign, or a letter masked between letters,
# and a Latin letter. Tried whole only on the tokens _LEET_SIGNED names: those that hold any
# of 0 1 3 4 5 7 @ $ ! * (the same token, from its first character to its last), which
# deleet finds by byte classes (tests/proxy/pipeline/test_normalize.py compares the two).
_LEET_TOKEN = re.compile(rf"(?<!{_TOKEN})(?={_TOKEN}*?(?:[013457@$]|[A-Za-z][!*][A-Za-z]))"
                         rf"(?={_TOKEN}*?[A-Za-z]){_TOKEN}++")
_LEET_SIGNED = re.compile(rf"(?<!{_TOKEN})[^\W013457]*+[013457@$!*]{_TOKEN}*+")
_TOKEN_RUN = re.compile(rf"{_TOKEN}*+")
# Not words in disguise: too short or too long, a number and a word ("24mm", "base64"),
# a name and a digit ("HTML5", "Person1"), a shell variable, ordinals, hex ids and hashes.
_NOT_A_WORD = re.compile(r".{,2}|.{17,}|\d{2,}[A-Za-z]+|[A-Za-z]+\d{2,}|[A-Z][A-Za-z]*\d"
                         r"|\$[A-Z]+|\d+(?:st|nd|rd|th|s|ST|ND|RD|TH|S)|[0-9a-fA-F]{8,}")
_EMAIL_DOMAIN = re.compile(r"\.[A-Za-z]")
_MASK = re.compile(r"(?<=[A-Za-z])[!*](?=[A-Za-z])")
_LEET = str.maketrans("013457@$", "oieastas")
_MASKED = {"!": "i", "*": "u"}  # a masked letter is a guess: these two are the common ones
_ITEM = r"(?:[^\W\d_]|[013457@$])"
_SPACED = re.compile(rf"(?<![\w@$]){_ITEM}(?P<sep>[ .\-_*|+~])(?:{_ITEM}(?P=sep))+{_ITEM}"
                     r"(?![\w@$])")
_ONE_LETTER_WORDS = "IaA"


def canonical_views(text: str) -> list[str]:
    """The views of ``text`` that differ from it, in the order of the module doc."""
    shape = skeleton(text)  # ASCII text is its own skeleton, at once
    signs = _signs(shape, ciphers=True)
    if shape == text and not any(signs):
        return []
    views = _folds(shape, signs)
    plain = deciphered(shape, signs.ciphers)
    unpacked = decoded(shape, signs.encoded) if signs.encoded else shape
    if unpacked != shape:
        shape = skeleton(unpacked)
        views += [unpacked, *_folds(shape, _signs(shape))]
    views += plain
    return [view for view in dict.fromkeys(views) if view != text and view.strip()]


def _folds(shape: str, signs: _Signs) -> list[str]:
    """The skeleton, then its deleet and joined views, each made from the previous one."""
    unleeted = deleet(shape) if signs.leet else shape
    return [shape, unleeted, *(joined(unleeted) if signs.spaced else ())]


def deleet(text: str) -> str:
    """Leetspeak folded in the tokens that mix letters with leet digits or signs."""
    # The tokens _LEET_SIGNED matches (each a whole run of token characters holding a leet
    # one, all of them ASCII) found from their leet characters by byte-class searches, not
    # by the regex engine trying every position; a token of ASCII and other characters (an
    # accented letter: a character of its own class here) widened over the others. The
    # same text as the regex's (tested against it).
    ascii = text.isascii()
    classes = text.encode("ascii", "replace").translate(_TOKEN_CLASSES)  # a byte a character
    pieces: list[str] = []
    last = 0
    leet = classes.find(b"l")
    while leet >= 0:
        start = classes.rfind(b" ", 0, leet) + 1
        end = classes.find(b" ", leet)
        end = len(text) if end < 0 else end
        if not ascii:
            start, end = _widened(text, start, end)
        # a token of no letter, or too short or long for a word (_NOT_A_WORD), stays
        if 2 < end - start < 17 and classes.find(b"a", start, end) >= 0:
            pieces += (text[last:start], _deleeted(text, start, end))
            last = end
        leet = classes.find(b"l", end)
    return "".join((*pieces, text[last:])) if pieces else text


def _widened(text: str, start: int, end: int) -> tuple[int, int]:
    """``text[start:end]``, a run of ASCII token characters, grown to the whole token
    around it: over the other characters ``_TOKEN`` takes (``\\w``: letters and digits of
    any script), and the ASCII ones beyond them."""
    while start and (text[start - 1].isalnum() or text[start - 1] in "_@$!*"):
        start -= 1  # str.isalnum is the regex engine's own \w test, less the underscore
    end = _TOKEN_RUN.match(text, end).end()  # type: ignore[union-attr]  # never None
    return start, end


def _deleet_token(match: re.Match[str]) -> str:
    return _deleeted(match.string, match.start(), match.end())


def _deleeted(text: str, start: int, end: int) -> str:
    """The token ``text[start:end]`` deleeted, unless it is no word in disguise."""
    token = text[start:end]
    if "_" in token or not _LEET_TOKEN.fullmatch(token) or _NOT_A_WORD.fullmatch(token) or (
            "@" in token and _EMAIL_DOMAIN.match(text, end)):
        return token
    return _MASK.sub(lambda sign: _MASKED[sign[0]], token).translate(_LEET)


def joined(text: str) -> tuple[str, str]:
    """Runs of 3+ single letters with one same separator between them as one word, deleeted:
    (a leading I, a or A before 3+ letters kept as a word of its own, joined too)."""
    apart: list[str] = []
    together: list[str] = []
    last = 0
    for run in _SPACED.finditer(text):
        gap, last = text[last:run.start()], run.end()
        apart += [gap, _join(run[0], keep_first_word=True)]
        together += [gap, _join(run[0], keep_first_word=False)]
    return "".join(apart) + text[last:], "".join(together) + text[last:]


def _join(run: str, keep_first_word: bool) -> str:
    word = run[::2]
    if sum(char.isalpha() for char in word) < 2:
        return run
    if keep_first_word and word[0] in _ONE_LETTER_WORDS and len(word) > 3:
        return f"{word[0]} {deleet(word[1:])}"
    return deleet(word)


def _byte_classes(mapping: dict[bytes, bytes]) -> bytes:
    """A bytes.translate table: each byte of a key to its value, the others to a space."""
    table = bytearray(b" " * 256)
    for members, cls in mapping.items():
        for byte in members:
            table[byte] = cls[0]
    return bytes(table)


_LETTERS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_NON_ASCII = bytes(range(0x80, 0x100))
_LEET_CLASSES = _byte_classes({_LETTERS: b"a", b"0123456789@$": b"1"})
_MASK_CLASSES = _byte_classes({_LETTERS: b"a", b"!*": b"!"})
_SPACED_CLASSES = _byte_classes({_LETTERS + b"013457@$": b"a"})
# A token's characters (``_TOKEN``): its leet ones (``_LEET_SIGNED``'s) "l", letters "a",
# the others "w"; anything else a space.
_TOKEN_CLASSES = _byte_classes({_LETTERS: b"a", b"0123456789_": b"w", b"013457@$!*": b"l"})
_BASE64_CLASSES = _byte_classes({_LETTERS + b"0123456789+/=": b"b"})
_BRAILLE_LEADS = tuple(chr(first).encode()[:2] for first in range(0x2800, 0x2900, 0x40))


class _Signs(NamedTuple):
    leet: bool
    spaced: bool
    encoded: frozenset[str]  # the kinds of encoded run it may hold (normalize_decode)
    ciphers: list[str]  # the ciphers it seems written in (normalize_cipher.ciphers_in)


def _signs(text: str, ciphers: bool = False) -> _Signs:
    """Whether ``text`` may hold leetspeak, spaced letters, encoded runs: a superset of what
    deleet, joined and decoded fold, from byte classes (C-speed, no regex; spaced letters
    in non-ASCII text take the regex). Leet: with the other token characters deleted
    (_ ! * and non-ASCII), a letter meets a digit. Encoded: a % or backslash, "&#", a
    dot-dash code (a Morse run holds one, normalize_decode), numbers one or two
    separators apart (twice), a long base64 run, a Braille cell. The ciphers only when asked.

    Substrings are looked for in ``text`` (str) or with ``bytes.find``: CPython 3.11's
    ``part in data`` for bytes first tries ``part`` as an integer, and builds and drops a
    TypeError each time (0.3 us against 0.06-0.09: most of this function's cost)."""
    data = text.encode("utf-8")
    leet = data.translate(_LEET_CLASSES, _NON_ASCII + b"_!*")
    masks = data.translate(_MASK_CLASSES) if "!" in text or "*" in text else b""
    ascii = text.isascii()
    spaced = ((b" " + data.translate(_SPACED_CLASSES) + b" ").find(b" a a a ") >= 0 if ascii
              else _SPACED.search(text) is not None)
    leet_sign = masks.find(b"a!a") >= 0 or (leet.find(b"1") >= 0 and (
        leet.find(b"a1") >= 0 or leet.find(b"1a") >= 0))
    return _Signs(leet_sign, spaced, _encodings(text, data, leet, ascii),
                  ciphers_in(data) if ciphers else [])


def _encodings(text: str, data: bytes, leet: bytes, ascii: bool) -> frozenset[str]:
    """The kinds of encoded run ``text`` (``data``: its UTF-8) may hold (each test a superset
    of its run's pattern in normalize_decode; one character first: memchr, the pairs are
    slower)."""
    kinds = []
    if "%" in text:
        kinds.append("percent")
    if "\\" in text:
        kinds.append("escape")
    if "&" in text and "&#" in text:
        kinds.append("entity")
    if "-" in text and (".-" in text or "-." in text):
        kinds.append("morse")
    # 4+ octets or 6+ codes: four numbers 1-2 separators apart make two such pairs even
    # counted without overlaps (checked for every digit and separator length)
    if leet.find(b"1") >= 0 and leet.count(b"1 1") + leet.count(b"1  1") >= 2:
        kinds.append("numbers")
    if not ascii and any(data.find(lead) >= 0 for lead in _BRAILLE_LEADS):
        kinds.append("braille")
    if data.translate(_BASE64_CLASSES).find(b"b" * 16) >= 0:
        kinds.append("base64")
    return frozenset(kinds) if kinds else _NONE


_NONE: frozenset[str] = frozenset()
