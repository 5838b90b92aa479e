"""A regex searched faster where few positions can start a match: ``gated(pattern)``.

Python's ``re`` tries a pattern at every position of the text unless the pattern starts
with a literal or a character class; one that starts with ``\\b`` and a long alternation (the
refusal cues) pays for every branch at every word boundary. ``gated`` puts a lookahead of
the characters a match can start with in front, ``(?=[abc])(?:pattern)``: the same matches
(a match's first character is always in the set), each failing position rejected by one
class test instead of the alternation.

The set is read from the pattern's parse tree (``re._parser``): literals, classes of
literals and ranges, groups, alternations, repeats and zero-width assertions. A pattern with
anything else where a match may start (``\\w``, ``.``, a negated class, a back-reference),
one that can match the empty string, or flags (case folding would change the set) is
compiled as it is. tests/classifiers/test_regex_gate.py checks the matches are the same.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable
from typing import Any

try:  # the parser re compiles with (private, stable across 3.11-3.13); without it: no gate
    _c: Any = importlib.import_module("re._constants")
    _parser: Any = importlib.import_module("re._parser")
except ImportError:  # pragma: no cover - a Python without them
    _parser = None

MAX_GATE_CHARS = 64  # a gate open to more characters than this rejects too few positions


def gated(pattern: str) -> re.Pattern[str]:
    """``pattern`` compiled, behind a lookahead of its first characters when they are known."""
    first = first_chars(pattern)
    if not first or len(first) > MAX_GATE_CHARS:
        return re.compile(pattern)
    return re.compile(f"(?=[{''.join(re.escape(char) for char in sorted(first))}])(?:{pattern})")


def first_chars(pattern: str) -> frozenset[str] | None:
    """Every character a non-empty match of ``pattern`` (no flags) can start with, or None
    when that cannot be told (see the module doc), a match can be empty or a class spans
    more than MAX_GATE_CHARS characters."""
    if _parser is None:
        return None
    parsed = _parser.parse(pattern)
    if parsed.state.flags & ~(re.UNICODE | re.NOFLAG):
        return None
    chars, nullable = _first(parsed)
    return None if chars is None or nullable else frozenset(chars)


def _first(items: Iterable[tuple[Any, Any]]) -> tuple[set[str] | None, bool]:
    """(the first characters of a sequence of parsed items, or None if unknown; whether the
    sequence can match without consuming a character)."""
    chars: set[str] = set()
    for op, value in items:
        if op is _c.AT or op is _c.ASSERT or op is _c.ASSERT_NOT:
            continue  # zero-width: the first character comes after
        found, nullable = _item(op, value)
        if found is None:
            return None, False
        chars |= found
        if not nullable:
            return chars, False
    return chars, True


def _item(op: Any, value: Any) -> tuple[set[str] | None, bool]:
    """``_first`` of one item that takes characters."""
    if op is _c.LITERAL:
        return {chr(value)}, False
    if op is _c.IN:
        return _class(value), False
    if op is _c.SUBPATTERN:
        if value[1] & re.IGNORECASE:  # (?i:...): its letters match either case
            return None, False
        return _first(value[-1])
    if op is _c.BRANCH:
        chars: set[str] = set()
        nullable = False
        for branch in value[1]:
            found, empty = _first(branch)
            if found is None:
                return None, False
            chars |= found
            nullable = nullable or empty
        return chars, nullable
    if op in (_c.MAX_REPEAT, _c.MIN_REPEAT, _c.POSSESSIVE_REPEAT):
        low, _, repeated = value
        found, nullable = _first(repeated)
        return found, nullable or low == 0
    return None, False  # any character, a category, a negated literal, a group reference...


def _class(members: Iterable[tuple[Any, Any]]) -> set[str] | None:
    """The characters of a class of literals and ranges; None for anything else."""
    chars: set[str] = set()
    for op, value in members:
        if op is _c.LITERAL:
            chars.add(chr(value))
        elif op is _c.RANGE and value[1] - value[0] < MAX_GATE_CHARS:
            chars.update(map(chr, range(value[0], value[1] + 1)))
        else:  # a category (\w, \d), a negation, a range too wide to gate on
            return None
    return chars
