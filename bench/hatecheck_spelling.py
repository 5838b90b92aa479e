"""HateCheck's spelling variations: the default input policy, raw text against canonical views.

HateCheck (../shared/data/hatecheck/test_suite_cases.csv, read in place) has four
functionalities of hateful messages in disguise: ``spell_leet_h`` ("I h4te women"),
``spell_space_add_h`` ("I h a t e women"), ``spell_space_del_h`` ("Ihate women") and
``spell_char_swap_h`` ("I haet women"); every case is labeled hateful. The checks are the
embedded defaults, built the way ``safety-proxy score`` builds them; each input check scores
the raw text ("before") and the raw text plus its canonical views, keeping the highest score
per label ("after", what the pipeline does with ``normalize: true``). The default input
policy decides; flag or block counts as "hateful detected".

Prints JSON: per functionality and overall, the cases, how many got at least one view, the
detection rate (accuracy: every case is hateful) before and after, and, as the ceiling, the
detection rate on the plain cases HateCheck made them from (``ref_case_id``).

    python -m bench.hatecheck_spelling [path/to/test_suite_cases.csv]
"""

from __future__ import annotations

import asyncio
import csv
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from classifiers.base import ClassifyContext, Scores
from proxy.config.loader import load_embedded_defaults
from proxy.config.snapshot import Check, Snapshot, build_snapshot
from proxy.pipeline.decision import decide, max_scores
from proxy.pipeline.normalize import canonical_views

DEFAULT = Path(__file__).resolve().parents[2] / "shared/data/hatecheck/test_suite_cases.csv"
FUNCTIONALITIES = ("spell_leet_h", "spell_space_add_h", "spell_space_del_h",
                   "spell_char_swap_h")


def load_cases(path: Path) -> dict[str, list[tuple[str, str]]]:
    """functionality -> (disguised case, the plain case it was made from)."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    plain = {row["case_id"]: row["test_case"] for row in rows}
    cases: dict[str, list[tuple[str, str]]] = {name: [] for name in FUNCTIONALITIES}
    for row in rows:
        if row["functionality"] in cases and row["label_gold"] == "hateful":
            original = plain[str(int(float(row["ref_case_id"])))]
            cases[row["functionality"]].append((row["test_case"], original))
    return cases


async def scores_per_text(checks: Sequence[Check], texts: list[str]) -> list[dict[str, Scores]]:
    """check -> label -> score, per text, from one batched call per check."""
    per_check = {check.name: await check.classifier.classify(texts, ClassifyContext("input"))
                 for check in checks}
    return [{name: scores[i] for name, scores in per_check.items()} for i in range(len(texts))]


async def detections(snapshot: Snapshot, cases: list[tuple[str, str]]) -> dict[str, object]:
    checks = snapshot.checks_for("input")
    policy = snapshot.config.policy.for_direction("input")
    texts = [text for text, _ in cases]
    views = [canonical_views(text) for text in texts]
    flat = [view for text, own in zip(texts, views, strict=True) for view in [text, *own]]
    scored = iter(await scores_per_text(checks, flat))
    before = after = 0
    for own in views:
        raw = next(scored)
        with_views = [raw, *(next(scored) for _ in own)]
        best = {check.name: max_scores([s[check.name] for s in with_views]) for check in checks}
        before += decide(policy, raw).action != "allow"
        after += decide(policy, best).action != "allow"
    originals = await scores_per_text(checks, [original for _, original in cases])
    plain = sum(decide(policy, scores).action != "allow" for scores in originals)
    return {"cases": len(cases), "with_views": sum(bool(own) for own in views),
            "accuracy_before": round(before / len(cases), 4),
            "accuracy_after": round(after / len(cases), 4),
            "accuracy_on_plain_originals": round(plain / len(cases), 4)}


async def run(path: Path) -> dict[str, object]:
    cases = load_cases(path)
    snapshot = await build_snapshot(load_embedded_defaults())
    try:
        result: dict[str, object] = {"data": str(path)}
        for name, pairs in cases.items():
            result[name] = await detections(snapshot, pairs)
        every = [pair for pairs in cases.values() for pair in pairs]
        result["all_four"] = await detections(snapshot, every)
        return result
    finally:
        await snapshot.close()


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    print(json.dumps(asyncio.run(run(path)), indent=2))


if __name__ == "__main__":
    main()
