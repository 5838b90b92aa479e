"""Labeled examples for ``tune``: rows of a CSV or JSONL file, each a moderation unit.

One example is what the proxy decides on at once: one or more texts (their highest score
counts, as in the pipeline), an optional prompt (for output checks that judge an answer
against it), and whether it *should be flagged* (``positive``).

Rows are either columns (``text_column``: a string, a list of strings, or a mapping
direction -> texts) or recorded traffic in ``replay``'s shapes (chat requests with
answers, review-stream events; see ``traffic``), so the traffic an operator replays can be
labeled and tuned on as it is. An event exported without texts (``events.text: off``)
carries its recorded scores, used as they are (valid while the checks are unchanged).

Label mapping: ``positive`` lists the label values that mean "should be flagged"; every
other value is negative. Without it, labels must be booleans or a known yes/no vocabulary,
otherwise the error lists the values found so the operator can choose.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from classifiers.base import Direction
from proxy.tuning.files import DataError, RecordedScores, label_value, rows
from proxy.tuning.traffic import is_traffic, parse_record

__all__ = ["PRESETS", "DataError", "DataSpec", "Example", "label_value", "load_examples"]


@dataclass(frozen=True, slots=True)
class Example:
    texts: tuple[str, ...]  # empty when ``recorded`` holds the scores
    positive: bool
    prompt: str | None = None
    recorded: RecordedScores | None = None  # check -> label -> score, from an event


@dataclass(frozen=True, slots=True)
class DataSpec:
    text_column: str = "text"
    label_column: str = "label"
    positive: frozenset[str] | None = None  # None: a yes/no vocabulary is expected
    prompt_column: str | None = None
    direction: Direction = "input"
    limit: int | None = None  # a seeded random sample of this many rows
    seed: int = 0


_Parts = tuple[tuple[str, ...], str | None, RecordedScores | None]  # texts, prompt, scores

# Shapes of the data sets the project is tested on, so their commands stay short.
PRESETS: dict[str, dict[str, Any]] = {
    "davidson": {"text_column": "tweet", "label_column": "class",
                 "positive": frozenset({"0", "1"}), "direction": "input"},
    "xstest": {"text_column": "completion", "label_column": "final_label",
               "positive": frozenset({"2_full_refusal", "3_partial_refusal"}),
               "prompt_column": "prompt", "direction": "output"},
}
_YES = frozenset({"1", "true", "yes", "y", "positive", "flag", "flagged", "block", "blocked",
                  "bad", "unsafe", "harmful", "toxic"})
_NO = frozenset({"0", "false", "no", "n", "negative", "allow", "allowed", "ok", "good",
                 "safe", "benign", "clean"})


@dataclass(slots=True)
class _Reader:
    spec: DataSpec
    source: str
    unknown: set[str] = field(default_factory=set)

    def example(self, row: dict[str, Any], where: str) -> Example | None:
        texts, prompt, recorded = (_traffic(row, where, self.spec.direction) if is_traffic(row)
                                   else _columns(row, where, self.spec))
        texts = tuple(text for text in texts if text.strip())
        if not texts and not recorded:
            return None
        positive = self._positive(label_value(_field(row, self.spec.label_column, where)))
        return Example(texts, positive, prompt, None if texts else recorded)

    def _positive(self, label: str) -> bool:
        if self.spec.positive is not None:
            return label in self.spec.positive
        if label.lower() not in _YES | _NO:
            self.unknown.add(label)
        return label.lower() in _YES


def load_examples(path: Path, spec: DataSpec) -> list[Example]:
    reader = _Reader(spec, str(path))
    examples = [example for where, row in rows(path)
                if (example := reader.example(row, where)) is not None]
    if reader.unknown:
        found = ", ".join(sorted(reader.unknown)[:10])
        raise DataError(f"{path}: labels {found} are not yes/no values; say which mean "
                        f"'should be flagged' with --positive VALUE[,VALUE...]")
    if not examples:
        raise DataError(f"{path}: no rows with text in column {spec.text_column!r}")
    if spec.limit is not None and spec.limit < len(examples):
        examples = random.Random(spec.seed).sample(examples, spec.limit)
    return examples


def _traffic(row: dict[str, Any], where: str, direction: Direction) -> _Parts:
    """Recorded traffic (``replay``'s shapes): the direction's texts, else its scores."""
    record = parse_record(row, where)
    return record.texts.get(direction, ()), record.prompt, record.recorded.get(direction)


def _columns(row: dict[str, Any], where: str, spec: DataSpec) -> _Parts:
    texts = _texts(_field(row, spec.text_column, where), spec.direction, where)
    prompt = row.get(spec.prompt_column) if spec.prompt_column else None
    return tuple(texts), prompt if isinstance(prompt, str) else None, None


def _field(row: dict[str, Any], column: str, where: str) -> Any:
    if column not in row or row[column] is None:
        raise DataError(f"{where}: no column {column!r} (columns: {', '.join(map(str, row))})")
    return row[column]


def _texts(value: Any, direction: Direction, where: str) -> list[str]:
    """A text column holds a string, a list of strings, or (review-stream exports) a
    mapping direction -> list of texts, of which the tuned direction is taken."""
    if isinstance(value, dict):
        value = value.get(direction, [])
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(text, str) for text in value):
        return list(value)
    raise DataError(f"{where}: the text must be a string, a list of strings or "
                    f"{{direction: [texts]}}")
