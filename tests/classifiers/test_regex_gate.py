"""regex_gate: a pattern behind a lookahead of its first characters finds the same matches."""

from __future__ import annotations

import random
import re
from re import _constants as _c
from re import _parser

import pytest

from classifiers.refusal import cues
from classifiers.regex_gate import MAX_GATE_CHARS, first_chars, gated

FAMILIES = ("DECLINE", "OPENING_DECLINE", "DEFLECT_AI", "AI_LIMIT", "PREMISE", "LECTURE",
            "PIVOT", "SUGGEST", "OFFER")


@pytest.mark.parametrize(("pattern", "first"), [
    ("abc", "a"),
    (r"\b(?:ab|c[de]|x?y)", "acxy"),
    (r"[a-c]z|q", "abcq"),
    (r"(?:^|[.!?]\s*)sorry", ".!?s"),
    (r"(?:a?){3}b", "ab"),
    (r"(?:ab){2}c", "a"),
    (r"(?=x)y|(?<!w)z", "yz"),  # assertions take no character
    (r"\bfoo|bar", "fb"),
    (r"a*+b", "ab"),
])
def test_first_chars_of_what_it_can_read(pattern: str, first: str) -> None:
    assert first_chars(pattern) == frozenset(first)


@pytest.mark.parametrize("pattern", [
    r"a*",  # can match the empty string: every position may start a match
    r"\b",
    r"\wx",  # a category
    r".x",
    r"[^a]x",
    r"(a)?\1b",  # a group reference
    r"(?i)abc",  # case folding
    r"(?i:a)b",
    r"x|\d",
])
def test_no_first_chars_where_it_cannot_tell(pattern: str) -> None:
    assert first_chars(pattern) is None
    assert gated(pattern).pattern == pattern, "compiled as it is"


def test_a_gate_open_to_most_characters_is_left_out() -> None:
    wide, wider = f"[\\x00-{chr(MAX_GATE_CHARS + 1)}]x", "[\\x00-\\U0010ffff]x"
    for pattern in (wide, wider, f"{wide[:-1]}|[a-z]x"):
        assert first_chars(pattern) is None
        assert gated(pattern).pattern == pattern
    assert len(first_chars("[a-z]|[A-Z]|[0-9]") or ()) == 62, "narrower classes add up"
    assert gated("[a-z]|[A-Z]|[0-9]|[.,;]").pattern == "[a-z]|[A-Z]|[0-9]|[.,;]", "65: too many"


def _inner(pattern: str) -> str:
    """The pattern a gated one wraps: ``(?=[...])(?:PATTERN)``."""
    assert pattern.startswith("(?=[") and pattern.endswith(")"), pattern
    return pattern[pattern.index("])(?:") + len("])(?:"):-1]


def test_every_refusal_family_is_gated() -> None:
    for name in FAMILIES:
        compiled = getattr(cues, name)
        assert gated(_inner(compiled.pattern)).pattern == compiled.pattern, name


def _instance(items, rng: random.Random) -> str:
    """A random string the parsed ``items`` match (assertions aside): what a cue reads."""
    out = []
    for op, value in items:
        if op is _c.LITERAL:
            out.append(chr(value))
        elif op is _c.IN:
            members = [chr(v) if o is _c.LITERAL else chr(rng.randint(*v)) if o is _c.RANGE
                       else rng.choice("a_ ") for o, v in value if o is not _c.NEGATE]
            out.append(rng.choice(members))
        elif op is _c.BRANCH:
            out.append(_instance(rng.choice(value[1]), rng))
        elif op is _c.SUBPATTERN:
            out.append(_instance(value[-1], rng))
        elif op in (_c.MAX_REPEAT, _c.MIN_REPEAT, _c.POSSESSIVE_REPEAT):
            low, high, repeated = value
            out += [_instance(repeated, rng) for _ in range(rng.randint(low, min(high, low + 2)))]
        elif op in (_c.ANY, _c.NOT_LITERAL, _c.CATEGORY):
            out.append(rng.choice("x ."))
    return "".join(out)


def test_gated_cues_find_what_the_plain_ones_find() -> None:
    """Texts made of instances of the cues (whole, cut short or with a character changed),
    words and punctuation: every family finds the same matches (spans) gated as plain, and
    each finds many."""
    rng = random.Random(11)
    plain = {name: re.compile(_inner(getattr(cues, name).pattern)) for name in FAMILIES}
    trees = [_parser.parse(pattern.pattern) for pattern in plain.values()]
    noise = ["the", "model", "Sorry", "I", "AI", "x1", "\u00e9", "\u2019", "'", "-", "_", "42",
             " ", ", ", ". ", "! ", "? ", "\n", '"']
    found = dict.fromkeys(FAMILIES, 0)
    for _ in range(4_000):
        pieces = []
        for _ in range(rng.randint(0, 6)):
            piece = _instance(rng.choice(trees), rng)
            if rng.random() < 0.3 and piece:  # a near miss: cut short or one character off
                cut = rng.randrange(len(piece))
                piece = piece[:cut] if rng.random() < 0.5 else (
                    piece[:cut] + rng.choice("aeiz .'") + piece[cut + 1:])
            pieces += [piece, rng.choice(noise)]
        text = "".join(pieces)
        for name in FAMILIES:
            spans = [match.span() for match in plain[name].finditer(text)]
            assert [match.span() for match in getattr(cues, name).finditer(text)] == spans, (
                name, text)
            found[name] += bool(spans)
    assert min(found.values()) > 100, found  # each family matched often: the test bites
