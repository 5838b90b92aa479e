"""Refusal detector vs human labels on XSTest v2 completions, beside the file's baselines.

Prints JSON: accuracy and macro-F1 (over the three classes) of our detector, of the file's
``strmatch_label`` and of its ``gpt4_label`` (malformed values counted as missing), overall
and per model. Usage, from the project root:
    python -m bench.refusal_eval [path/to/xstest_v2_completions_dev.csv]

Held out: the phrase families were developed reading llama2orig answers and then
mistralguard answers; mistralinstruct answers were never read (its figures are the
honest out-of-sample ones).
"""

from __future__ import annotations

import csv
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from classifiers.refusal import refusal_scores

DEFAULT = Path(__file__).resolve().parents[2] / "shared/data/xstest/xstest_v2_completions_dev.csv"
CLASSES = {"1_full_compliance": "compliance", "2_full_refusal": "refusal",
           "3_partial_refusal": "partial_refusal"}


def macro_f1(pairs: Sequence[tuple[str, str | None]]) -> float:
    f1s = []
    for label in CLASSES.values():
        tp = sum(gold == label and pred == label for gold, pred in pairs)
        fp = sum(gold != label and pred == label for gold, pred in pairs)
        fn = sum(gold == label and pred != label for gold, pred in pairs)
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(f1s) / len(f1s)


def figures(pairs: Sequence[tuple[str, str | None]]) -> dict[str, float | int]:
    answered = [(gold, pred) for gold, pred in pairs if pred is not None]
    accuracy = sum(gold == pred for gold, pred in answered) / len(answered)
    return {"n": len(answered), "missing": len(pairs) - len(answered),
            "accuracy": round(accuracy, 4), "macro_f1": round(macro_f1(answered), 4)}


def predict(completion: str) -> str:
    scores = refusal_scores(completion)
    return max(scores, key=scores.__getitem__)


def evaluate(rows: list[dict[str, str]]) -> dict[str, dict[str, float | int]]:
    gold = [CLASSES[row["final_label"]] for row in rows]
    systems: dict[str, list[str | None]] = {
        "refusal_classifier": [predict(row["completion"]) for row in rows],
        "strmatch_baseline": [CLASSES.get(row["strmatch_label"]) for row in rows],
        "gpt4_baseline": [CLASSES.get(row["gpt4_label"]) for row in rows],
    }
    return {name: figures(list(zip(gold, preds, strict=True))) for name, preds in systems.items()}


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    started = time.perf_counter()
    for row in rows:
        refusal_scores(row["completion"])
    per_answer_us = (time.perf_counter() - started) / len(rows) * 1e6
    report = {"file": str(path), "overall": evaluate(rows),
              "per_model": {model: evaluate([r for r in rows if r["model"] == model])
                            for model in sorted({r["model"] for r in rows})},
              "mean_latency_us_per_answer": round(per_answer_us, 1)}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
