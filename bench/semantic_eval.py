"""Jailbreak detection with ``type: semantic``: true-positive rate at 1% false positives.

Positives: the non-null prompts of JailbreakBench's attack artifacts (deduplicated).
Negatives: XSTest's safe prompts (benign questions that sound alarming). Held out by
goal: prompts whose behaviour index is even are the classifier's example texts, prompts
with an odd index are scored, so no scored prompt shares its goal with an example.

- ``by_goal``: examples from every attack method, scored prompts from every method;
- ``unseen_method``: for each method, examples from the other methods only (an attack
  style the operator has never seen), scored on that method's odd-index prompts.

The threshold is the benign score that leaves at most 1% of benign prompts strictly above
it (with 250 benign prompts: the 2 highest, an observed FPR of 0.8%). Prints JSON.
Usage: [BENCH_THREADS=n] python -m bench.semantic_eval [data_dir]
(every text is embedded once; about 3 minutes of one core for the 1,347 texts).
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from classifiers.base import ClassifyContext
from classifiers.semantic import SemanticClassifier

DATA = Path(__file__).resolve().parents[2] / "shared/data"
INPUT = ClassifyContext(direction="input")
THREADS = int(os.environ.get("BENCH_THREADS", "1"))


@dataclass(frozen=True)
class Attack:
    prompt: str
    method: str
    goal_index: int

    @property
    def is_example(self) -> bool:
        return self.goal_index % 2 == 0


def load(data: Path) -> tuple[list[Attack], list[str]]:
    seen: dict[str, Attack] = {}
    for line in (data / "jailbreakbench_artifacts/jbb_artifacts.jsonl").open(encoding="utf-8"):
        row = json.loads(line)
        if row["prompt"]:
            seen.setdefault(row["prompt"], Attack(row["prompt"], row["method"], row["index"]))
    with (data / "xstest/xstest_prompts.csv").open(newline="", encoding="utf-8") as handle:
        benign = [r["prompt"] for r in csv.DictReader(handle) if r["label"] == "safe"]
    return list(seen.values()), benign


def tpr_at_fpr(positive: np.ndarray, negative: np.ndarray, fpr: float = 0.01) -> dict[str, float]:
    allowed = int(fpr * len(negative))  # benign prompts that may score above the threshold
    threshold = float(np.sort(negative)[len(negative) - 1 - allowed])
    return {"tpr": round(float((positive > threshold).mean()), 4),
            "threshold": round(threshold, 4),
            "fpr_observed": round(float((negative > threshold).mean()), 4),
            "n_positive": len(positive), "n_negative": len(negative)}


async def by_goal(
    attacks: list[Attack], benign: list[str]
) -> tuple[dict[str, float], SemanticClassifier]:
    examples = [a.prompt for a in attacks if a.is_example]
    scored = [a.prompt for a in attacks if not a.is_example]
    classifier = SemanticClassifier("jailbreak_guard", {
        "categories": {"jailbreak": examples}, "threads": THREADS})
    started = time.perf_counter()
    await classifier.start()
    start_s = time.perf_counter() - started
    positive = np.array([s["jailbreak"] for s in await classifier.classify(scored, INPUT)])
    negative = np.array([s["jailbreak"] for s in await classifier.classify(benign, INPUT)])
    figures = {**tpr_at_fpr(positive, negative), "n_examples": len(examples),
               "start_s": round(start_s, 1)}
    return figures, classifier


def unseen_method(attacks: list[Attack], benign: np.ndarray,
                  embed: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """The classifier's rule (max cosine, clamped) on embeddings it already computed."""
    results = {}
    for method in sorted({a.method for a in attacks}):
        examples = np.stack([embed[a.prompt] for a in attacks
                             if a.method != method and a.is_example])
        scored = np.stack([embed[a.prompt] for a in attacks
                           if a.method == method and not a.is_example])
        results[method] = tpr_at_fpr(max_cosine(scored, examples), max_cosine(benign, examples))
    return results


def max_cosine(rows: np.ndarray, examples: np.ndarray) -> np.ndarray:
    return np.clip((rows @ examples.T).max(axis=1), 0.0, 1.0)


async def main() -> None:
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else DATA
    attacks, benign = load(data)
    started = time.perf_counter()
    goal_figures, classifier = await by_goal(attacks, benign)
    elapsed = time.perf_counter() - started
    prompts = [a.prompt for a in attacks]  # all embedded above: served from the cache
    embed = dict(zip(prompts, await classifier.embeddings(prompts), strict=True))
    benign_rows = np.stack(await classifier.embeddings(benign))
    report = {"data": str(data), "model": classifier.version, "by_goal": goal_figures,
              "unseen_method": unseen_method(attacks, benign_rows, embed),
              "by_goal_wall_s": round(elapsed, 1)}
    await classifier.close()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
