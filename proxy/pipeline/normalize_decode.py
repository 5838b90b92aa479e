"""The decoded view's folding: encoded runs replaced by the text they encode. Sans-IO, pure.

``decoded(text)`` replaces each run of an encoding that models read on request by its
decoding, when that is text:

- 16+ base64 characters (standard alphabet, length with its padding a multiple of 4), 16+
  hex digits (even length), 16+ binary digits in octets; a hex-looking run is tried as hex
  first, then as base64; decodings must be UTF-8 text at least 90 % printable (whitespace
  counts);
- %XX escapes (URL encoding), the same way;
- backslash escapes (``\\u0068``, ``\\x68``, ``\\U00000068``) and HTML numeric entities
  (``&#104;``, ``&#x68;``): the characters they name;
- binary octets written apart (``01101000 01101001``, 4 or more) and decimal character
  codes (``104 111 119``, 6 or more, each 32-126, tab or newline, spaces or commas
  between), when the bytes are text as above;
- Morse code (``.... --- .--``, 4 or more letters; words apart by ``/``, ``|`` or 2-3
  spaces), in lower case, when every code is one and one of them mixes dots and dashes
  (a run of E, I, S, H, T, M, O and 5 and 0 alone stays: the cheap sign of
  normalize.py looks for ".-" or "-.");
- Braille (3 or more cells of U+2801-28FF, words apart by spaces or the blank cell), read
  as uncontracted English Braille (Grade 1: letters, the number and capital signs, common
  punctuation), when every cell is one of those;
- base32 (16+ characters of A-Z and 2-7 with its padding, a multiple of 8), when the run
  is no hex, base64 or binary text.

Any other run stays as it is. Bounded: one linear pass (possessive quantifiers, no
backtracking); a decoding is never longer than its run, and what a decoding yields is
never decoded again (the caller does not call it twice).
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Iterable

# Each encoding's run, in the order they are tried at a position; ``decoded`` compiles the
# alternation of the kinds it is asked for (a kind whose sign is absent cannot match
# anywhere, so leaving it out changes no match: normalize.py's signs say which may).
_RUNS = {
    "base64": r"(?<![\w+/])(?P<b64>(?=[A-Za-z0-9+/=]{16})[A-Za-z0-9+/]++={0,6})(?![\w+/=])",
    "percent": r"(?P<pct>(?:%[0-9A-Fa-f]{2})++)",
    "escape": r"(?P<esc>(?:\\(?:u[0-9A-Fa-f]{4}|x[0-9A-Fa-f]{2}|U[0-9A-Fa-f]{8}))++)",
    "entity": r"(?P<ent>(?:&#(?:[0-9]{1,7}|[xX][0-9A-Fa-f]{1,6});)++)",
    # The first digit before the look-behind: a pattern that starts with a character set
    # lets the engine skip to the next digit instead of trying every position.
    "numbers": r"(?P<bin>[01](?<=(?<![\w.])[01])[01]{7}(?:[ ,]{1,2}[01]{8}){3,}+)(?![\w.])"
               r"|(?P<dec>[0-9](?<=(?<![\w.])[0-9])[0-9]{0,2}(?:,? [0-9]{1,3}|,[0-9]{1,3}){5,}+)"
               r"(?![\w.])",
    "morse": r"(?<!\S)(?P<morse>[.-]{1,7}(?:(?: {1,3}| ?[/|] ?)[.-]{1,7}){3,}+)(?!\S)",
    "braille": "(?P<braille>[\u2801-\u28ff](?:[\u2800 ]?+[\u2801-\u28ff]){2,}+(?:[\u2800 ]++"
               "[\u2801-\u28ff]++)*+)",
}
ENCODINGS = frozenset(_RUNS)
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})+")
_BITS = re.compile(r"(?:[01]{8})+")
_ESCAPE = re.compile(r"\\(?:u([0-9A-Fa-f]{4})|x([0-9A-Fa-f]{2})|U([0-9A-Fa-f]{8}))")
_ENTITY = re.compile(r"&#(?:([0-9]{1,7})|[xX]([0-9A-Fa-f]{1,6}));")
_CODE_SEPARATOR = re.compile(r"[ ,]+")
_MORSE_WORD = re.compile(r" ?[/|] ?| {2,3}")
_PRINTABLE_SHARE = 0.9
_MORSE_CODES = (  # International Morse code, in the order of _MORSE_CHARACTERS
    ".- -... -.-. -.. . ..-. --. .... .. .--- -.- .-.. -- -. --- .--. --.- .-. ... - ..- "
    "...- .-- -..- -.-- --.. ----- .---- ..--- ...-- ....- ..... -.... --... ---.. ----. "
    ".-.-.- --..-- ..--.. .----. -.-.-- -..-. -.--. -.--.- ---... -.-.-. -...- .-.-. -....- "
    ".-..-. .--.-.")
_MORSE_CHARACTERS = "abcdefghijklmnopqrstuvwxyz0123456789.,?'!/():;=+-\"@"
_MORSE = dict(zip(_MORSE_CODES.split(), _MORSE_CHARACTERS, strict=True))
_BASE32 = re.compile(r"[A-Z2-7]+=*")
# Grade 1 Braille: each cell's dots (1-6, bit n-1 of the offset from U+2800) -> its letter
# or sign
_BRAILLE_DOTS = {
    "a": "1", "b": "12", "c": "14", "d": "145", "e": "15", "f": "124", "g": "1245",
    "h": "125", "i": "24", "j": "245", "k": "13", "l": "123", "m": "134", "n": "1345",
    "o": "135", "p": "1234", "q": "12345", "r": "1235", "s": "234", "t": "2345", "u": "136",
    "v": "1236", "w": "2456", "x": "1346", "y": "13456", "z": "1356", ",": "2", ";": "23",
    ":": "25", ".": "256", "!": "235", "?": "236", "'": "3", "-": "36"}
_BRAILLE = {chr(0x2800 + sum(1 << (int(dot) - 1) for dot in dots)): character
            for character, dots in _BRAILLE_DOTS.items()}
_NUMBER_SIGN, _CAPITAL_SIGN = "\u283c", "\u2820"  # dots 3456, dot 6
_DIGITS = dict(zip("abcdefghij", "1234567890", strict=True))


def decoded(text: str, kinds: frozenset[str] = ENCODINGS) -> str:
    """Each encoded run replaced by the text it encodes (once, never deeper); only runs of
    ``kinds`` (of ENCODINGS) are looked for."""
    return _runs_of(kinds).sub(_decode_run, text) if kinds else text


@functools.cache
def _runs_of(kinds: frozenset[str]) -> re.Pattern[str]:
    return re.compile("|".join(run for kind, run in _RUNS.items() if kind in kinds))


def _decode_run(match: re.Match[str]) -> str:
    run, kind = match[0], match.lastgroup
    if kind == "pct":
        payload = _as_text(bytes.fromhex(run.replace("%", "")))
    elif kind == "esc":
        payload = _characters(int(next(filter(None, escape.groups())), 16)
                              for escape in _ESCAPE.finditer(run))
    elif kind == "ent":
        payload = _characters(int(decimal) if decimal else int(hexadecimal, 16)
                              for decimal, hexadecimal in
                              (entity.groups() for entity in _ENTITY.finditer(run)))
    elif kind == "bin":
        payload = _as_text(_octets("".join(_CODE_SEPARATOR.split(run))))
    elif kind == "dec":
        payload = _character_codes(run)
    elif kind == "morse":
        payload = _morse(run)
    elif kind == "braille":
        payload = _braille(run)
    else:  # b64
        payload = _as_text(bytes.fromhex(run)) if _HEX.fullmatch(run) else None
        payload = payload if payload is not None else _base64_text(run)
        payload = payload if payload is not None else _as_text(_octets(run))
        payload = payload if payload is not None else _base32_text(run)
    return run if payload is None else payload


def _base32_text(run: str) -> str | None:
    if len(run) % 8 or not _BASE32.fullmatch(run):
        return None
    try:
        return _as_text(base64.b32decode(run))
    except binascii.Error:
        return None


def _braille(run: str) -> str | None:
    """Grade 1 (uncontracted) English Braille as letters: a number sign makes the letters
    a-j after it digits up to the next space; a capital sign is dropped. None when a cell is
    no letter, digit or punctuation of it (contracted Braille stays as it is)."""
    out, digits = [], False
    for cell in run:
        if cell in " \u2800":
            out.append(" ")
            digits = False
        elif cell == _NUMBER_SIGN:
            digits = True
        elif cell != _CAPITAL_SIGN:
            letter = _BRAILLE.get(cell)
            if letter is None:
                return None
            out.append(_DIGITS.get(letter, letter) if digits else letter)
    return "".join(out)


def _base64_text(run: str) -> str | None:
    try:
        return _as_text(base64.b64decode(run, validate=True)) if len(run) % 4 == 0 else None
    except binascii.Error:
        return None


def _octets(bits: str) -> bytes:
    """Binary digits as bytes, 8 to a byte; b"" unless they are whole octets."""
    if not _BITS.fullmatch(bits):
        return b""
    return int(bits, 2).to_bytes(len(bits) // 8, "big")


def _characters(points: Iterable[int]) -> str | None:
    """The characters of these code points; None when one is no character."""
    out = []
    for point in points:
        if point > 0x10FFFF or 0xD800 <= point <= 0xDFFF:
            return None
        out.append(chr(point))
    return "".join(out)


def _character_codes(run: str) -> str | None:
    codes = [int(code) for code in _CODE_SEPARATOR.split(run)]
    if not all(32 <= code <= 126 or code in (9, 10) for code in codes):
        return None
    return _as_text(bytes(codes))


def _morse(run: str) -> str | None:
    if ".-" not in run and "-." not in run:
        return None
    words = []
    for word in _MORSE_WORD.split(run):
        codes = word.split()
        if not all(code in _MORSE for code in codes):
            return None
        words.append("".join(_MORSE[code] for code in codes))
    return " ".join(words)


def _as_text(data: bytes) -> str | None:
    """The bytes as text when they are UTF-8 and mostly printable; else None."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    printable = sum(char.isprintable() or char.isspace() for char in text)
    return text if text and printable >= _PRINTABLE_SHARE * len(text) else None
