"""Reading the operator's files row by row, each row named ``file:line`` for errors."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

Row = tuple[str, dict[str, Any]]  # where ("file:line"), the row
RecordedScores = dict[str, dict[str, float]]  # check -> label -> score


class DataError(Exception):
    """Unusable data or options; the message names the file, row and column."""


def rows(path: Path) -> Iterator[Row]:
    """JSON lines for .jsonl / .ndjson / .json files, CSV rows with a header otherwise."""
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        yield from json_lines(path)
        return
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            for number, row in enumerate(csv.DictReader(handle), start=2):
                yield f"{path.name}:{number}", row
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 (byte {exc.start})") from None


def json_lines(path: Path) -> Iterator[Row]:
    """One JSON object per line; blank lines are skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 (byte {exc.start})") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path.name}:{number}: invalid JSON: {exc.msg}") from None
        if not isinstance(row, dict):
            raise DataError(f"{path.name}:{number}: each line must be a JSON object")
        yield f"{path.name}:{number}", row


def label_value(value: Any) -> str:
    """A label as text: JSON true/false become "true"/"false", 1.0 becomes "1"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def recorded_scores(row: dict[str, Any]) -> dict[str, RecordedScores]:
    """A review event's ``scores`` ({"<direction>.<check>": {label: score}}) by direction."""
    recorded: dict[str, RecordedScores] = {}
    scores = row.get("scores")
    for qualified, labels in (scores if isinstance(scores, dict) else {}).items():
        direction, _, check = str(qualified).partition(".")
        if direction in ("input", "output") and isinstance(labels, dict):
            recorded.setdefault(direction, {})[check] = {
                str(label): float(score) for label, score in labels.items()
                if isinstance(score, int | float)}
    return recorded
