"""Detectors find spans; a span is what a rule matched, and what redaction masks.

A detector is a compiled pattern plus an optional validator (a checksum, a range check)
that the matched text must pass; validators are what keep a random 16-digit number from
counting as a payment card.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

Validator = Callable[[re.Match[str]], bool]
# Decides where in a match the span lies (a group, a trimmed prefix), or None to reject it.
Resolver = Callable[[re.Match[str]], tuple[int, int] | None]


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int
    label: str


@dataclass(frozen=True, slots=True)
class Detector:
    """Matches of ``pattern`` (group ``group``) that pass ``valid`` are spans of ``label``;
    a ``resolve`` function, when given, replaces both and says where the span is; a
    ``gate`` that says no skips the text (see :mod:`classifiers.rules.gates`)."""

    label: str
    pattern: re.Pattern[str]
    valid: Validator | None = None
    group: int = 0
    resolve: Resolver | None = None
    gate: Callable[[str], bool] | None = None  # False: no match possible, pattern skipped

    def spans(self, text: str) -> Iterator[Span]:
        if self.gate is not None and not self.gate(text):
            return
        for match in self.pattern.finditer(text):
            if self.resolve is not None:
                where = self.resolve(match)
                if where is not None:
                    yield Span(where[0], where[1], self.label)
            elif self.valid is None or self.valid(match):
                yield Span(match.start(self.group), match.end(self.group), self.label)

    def found_in(self, text: str) -> bool:
        return next(self.spans(text), None) is not None


def mask(text: str, spans: Iterable[Span]) -> tuple[str, int]:
    """Replaces each span by ``[REDACTED:label]``; overlapping spans merge into the first.

    Returns the masked text and the number of masks written.
    """
    pieces: list[str] = []
    cursor = 0
    masks = 0
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        if span.start < cursor:  # overlaps the previous mask: that mask grows to hide it
            cursor = max(cursor, span.end)
            continue
        pieces.append(text[cursor : span.start])
        pieces.append(f"[REDACTED:{span.label}]")
        cursor = span.end
        masks += 1
    pieces.append(text[cursor:])
    return "".join(pieces), masks
