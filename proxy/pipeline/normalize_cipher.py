"""The deciphered views: a text in a simple cipher that models read and write, read back.
Sans-IO and pure (the vocabulary file is read once, at import).

A client can ask a model to read a request written in a cipher, or to answer in one (the
"cipher" and "flip" jailbreaks): a Caesar shift (ROT13, a shift of 3...), Atbash (a <-> z),
the letters of each word reversed, or the whole text reversed. A word-level classifier
sees no known word in "lbh ner n fghcvq vqvbg"; its reader sees "you are a stupid idiot".

Which cipher a text is in comes from witnesses: the enciphered spellings of common English
words ("gur" is "the" in ROT13, "uoy" is "you" reversed), leaving out every spelling that
is itself a word (the profanity model's 15,000-word vocabulary, the common words
themselves), so ordinary text holds next to none of them. ``ciphers_in(data)`` intersects
a text's distinct lower-case words with the witnesses (one C-speed set operation: about
25 us for 4,000 characters, under 1 us for a short prompt, nothing more when there is no
witness); a cipher is undone when the text holds two distinct witnesses of it, or one in a
text of a dozen words or fewer. Undoing it is applied to the whole text: a request that
mixes plain instructions with an enciphered question gets a view where the question reads
plainly (and the instructions turn to gibberish, which scores nothing).

A text spelled out in the NATO spelling alphabet ("Bravo Oscar Mike Bravo") is read the
same way (``SPELLED``): three distinct code words in it are its witness, and each run of
three or more code words in a row becomes the letters they stand for, words apart where
the run breaks them (``/``, ``|``, ``,`` or two spaces); a run with no break, 8 to 256
letters long, is cut into words of the vocabulary (``_segmented``: "youareastupididiot"
reads "you are a stupid idiot").

Bounded: at most ``MOST_CIPHERS`` ciphers undone per text, each view the text's length;
a reversal gives two views (each word reversed, and the whole text reversed); the spelled
view is one more, never longer than the text.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from pathlib import Path

from classifiers.profanity_model.model import read_vocabulary

MOST_CIPHERS = 2
_SHORT_TEXT_WORDS = 12  # in a text this short one witness is enough
# Common English words, two letters or more (one letter is no evidence): their enciphered
# spellings are the witnesses.
_COMMON_TEXT = """
the be to of and in that have it for not on with he as you do at this but his by from they
we say her she or an will my one all would there their what so up out if about who get
which go me when make can like time no just him know take people into year your good some
could them see other than then now look only come its over think also back after use two
how our work first well way even new want because any these give day most us is are was
were has had been am did does said should may might must very much more many such here
where why tell write explain steps need help please answer question thing things great
little own old right big high different small large next early young important few public
bad same able every never always something nothing someone everyone anyone without before
through down between under while again still those each both being made used using create
provide find show going really life world house place home money man woman men women
person child children dont cant wont yes best way ways instructions detailed guide list
"""
COMMON_WORDS = frozenset(_COMMON_TEXT.split())
_VOCABULARY = Path(__file__).resolve().parents[2] / "classifiers/profanity_model/data"


def _word_classes() -> bytes:
    """A bytes.translate table: ASCII letters to lower case, digits and the marks of
    handles, tags, paths and identifiers (_ @ # / \\) kept (a token with them is no
    witness: "@conrad_mlg", "#nyy", "t.co/ZN1A0gs"), every other byte to a space."""
    table = bytearray(b" " * 256)
    for letter in string.ascii_lowercase.encode():
        table[letter] = table[letter - 32] = letter
    for mark in (string.digits + "_@#/\\").encode():
        table[mark] = mark
    return bytes(table)


_WORD_BYTES = _word_classes()
_CURLY_APOSTROPHE = "\u2019".encode()


def _shift(by: int) -> dict[int, int]:
    lower, upper = string.ascii_lowercase, string.ascii_uppercase
    return str.maketrans(lower + upper, lower[by:] + lower[:by] + upper[by:] + upper[:by])


_ATBASH = str.maketrans(string.ascii_lowercase + string.ascii_uppercase,
                        string.ascii_lowercase[::-1] + string.ascii_uppercase[::-1])
_WORD = re.compile(r"\S+")


def _reversed_words(text: str) -> str:
    """Each run of non-space characters reversed ("?gniwonk" -> "knowing?")."""
    return _WORD.sub(lambda word: word[0][::-1], text)


@dataclass(frozen=True, slots=True)
class Cipher:
    """A letter substitution (``forward`` writes in it, ``back`` reads it back), or, with
    neither, reversal."""

    forward: dict[int, int] | None = None
    back: dict[int, int] | None = None

    def encipher(self, text: str) -> str:
        """``text`` written in the cipher (reversal: the whole text reversed)."""
        return text[::-1] if self.forward is None else text.translate(self.forward)

    def undone(self, text: str) -> list[str]:
        """The views that read ``text`` back (reversal: each word, and the whole text)."""
        if self.back is None:
            return [_reversed_words(text), text[::-1]]
        return [text.translate(self.back)]


def _ciphers() -> dict[str, Cipher]:
    shifts = {f"rot{by}": Cipher(_shift(by), _shift(26 - by)) for by in range(1, 26)}
    return {**shifts, "atbash": Cipher(_ATBASH, _ATBASH), "reversed": Cipher()}


CIPHERS = _ciphers()


# Words: the common ones and the profanity model's vocabulary (letters only)
_WORDS = COMMON_WORDS | {"a", "i"} | {
    term for term in read_vocabulary((_VOCABULARY / "vocabulary.txt").read_text(
        encoding="utf-8")) if term.isalpha()}
_LONGEST_WORD = 20
_COMMON = COMMON_WORDS | {"a", "i"}


def _witnesses() -> dict[bytes, str]:
    """Each witness (an enciphered common word that is no word itself) -> its cipher; a
    spelling two ciphers share is none (5 ms, once, at import)."""
    words = _WORDS
    found: dict[bytes, str] = {}
    ambiguous: set[bytes] = set()
    for name, cipher in CIPHERS.items():
        for word in COMMON_WORDS:
            spelled = cipher.encipher(word)
            if len(spelled) < 3 or spelled in words:
                continue
            key = spelled.encode()
            if key in found and found[key] != name:
                ambiguous.add(key)
            found[key] = name
    return {key: name for key, name in found.items() if key not in ambiguous}


WITNESSES = _witnesses()
_WITNESS_SET = frozenset(WITNESSES)


# The spelling alphabet: a text spelled out in it ("Bravo Oscar Mike Bravo") reads as the
# letters its code words stand for. Three distinct code words in a text are its witness.
SPELLED = "nato"
_CODE_WORDS = {
    "alfa": "a", "alpha": "a", "bravo": "b", "charlie": "c", "delta": "d", "echo": "e",
    "foxtrot": "f", "golf": "g", "hotel": "h", "india": "i", "juliett": "j", "juliet": "j",
    "kilo": "k", "lima": "l", "mike": "m", "november": "n", "oscar": "o", "papa": "p",
    "quebec": "q", "romeo": "r", "sierra": "s", "tango": "t", "uniform": "u", "victor": "v",
    "whiskey": "w", "whisky": "w", "x-ray": "x", "xray": "x", "yankee": "y", "zulu": "z"}
_CODE_WORD_SET = frozenset(word.encode() for word in _CODE_WORDS)
_ANY_WITNESS = _WITNESS_SET | _CODE_WORD_SET
_CODE_WORD = "|".join(sorted(_CODE_WORDS, key=len, reverse=True))
# 3+ code words in a row: apart by a space or a dash within a word; by / | , or more
# spaces between words
_SPELLED_RUN = re.compile(rf"(?i)(?<![\w-])(?:{_CODE_WORD})(?:(?:[ \t]*[/|,][ \t]*|[ \t]+|-)"
                          rf"(?:{_CODE_WORD})){{2,}}+(?![\w-])")
_SPELLED_PIECE = re.compile(rf"(?i)(?P<word>{_CODE_WORD})|(?P<gap>[ \t]*[/|,][ \t]*|[ \t]{{2,}})")
# A run spelled with no word breaks, of 8 letters or more, is cut into words (up to 256
# letters: the cut costs about 20 lookups a letter)
_SEGMENTED_LETTERS = range(8, 257)


def ciphers_in(data: bytes) -> list[str]:
    """The ciphers ``data`` (a text's UTF-8) holds enough witnesses of, the best first (at
    most MOST_CIPHERS), then SPELLED when it holds three distinct code words of the
    spelling alphabet; [] at once when it holds neither."""
    if data.find(_CURLY_APOSTROPHE) >= 0:  # not ``in``: normalize._signs says why
        data = data.replace(_CURLY_APOSTROPHE, b"'")
    words = data.translate(_WORD_BYTES, b"'").split()  # "they're" is one word
    if _ANY_WITNESS.isdisjoint(words):  # the common case: one C-speed pass
        return []
    spelled = [SPELLED] if len(_CODE_WORD_SET.intersection(words)) >= 3 else []
    if _WITNESS_SET.isdisjoint(words):
        return spelled
    seen: dict[str, set[bytes]] = {}
    for word in _WITNESS_SET.intersection(words):
        seen.setdefault(WITNESSES[word], set()).add(word)
    enough = 1 if len(words) <= _SHORT_TEXT_WORDS else 2
    ranked = sorted((name for name, found in seen.items() if len(found) >= enough),
                    key=lambda name: (-len(seen[name]), name))  # ties: the same every run
    return ranked[:MOST_CIPHERS] + spelled


def deciphered(text: str, ciphers: list[str]) -> list[str]:
    """``text`` read back from each of ``ciphers`` (names from ciphers_in)."""
    return [view for name in ciphers for view in (
        [_SPELLED_RUN.sub(_spelled_out, text)] if name == SPELLED else CIPHERS[name].undone(text))]


def _spelled_out(run: re.Match[str]) -> str:
    """A run of code words as the letters they spell, words apart where the run breaks
    them; a long run with no break cut into words (``_segmented``)."""
    words = [""]
    for piece in _SPELLED_PIECE.finditer(run[0]):
        if piece["word"]:
            words[-1] += _CODE_WORDS[piece["word"].lower()]
        elif words[-1]:
            words.append("")
    if len(words) == 1 and len(words[0]) in _SEGMENTED_LETTERS:
        return _segmented(words[0])
    return " ".join(filter(None, words))


def _segmented(letters: str) -> str:
    """Letters with no spaces cut into the cheapest words: a common word costs 0.4 of a word
    of the vocabulary, a letter that is no word stands alone at three ("youareastupididiot":
    "you are a stupid idiot", where the fewest words read "you area ..."). Words that come
    back, spelled with no breaks and read by canonical_views: 93% on AdvBench's requests
    (the weights were chosen on them), 86% on XSTest's unsafe prompts and 83% on
    HateCheck's hateful cases (never read for this)."""
    cost = [0.0] + [len(letters) * 3.0] * len(letters)
    cut = [0] * (len(letters) + 1)
    for end in range(1, len(letters) + 1):
        for start in range(max(0, end - _LONGEST_WORD), end):
            piece = letters[start:end]
            step = (0.4 if piece in _COMMON else 1.0 if piece in _WORDS
                    else 3.0 if end - start == 1 else 0.0)
            if step and cost[start] + step < cost[end]:
                cost[end], cut[end] = cost[start] + step, start
    words, end = [], len(letters)
    while end:
        words.append(letters[cut[end]:end])
        end = cut[end]
    return " ".join(reversed(words))
