"""A whole config's decisions on labeled sets it was not tuned on (issue 14's acceptance).

Builds the checks the way ``safety-proxy score`` does (windows and canonical views as the
config says), scores each text as an input (HateCheck, XSTest prompts, Davidson) or as an
answer (XSTest completions), and lets the config's own policy decide. Prints JSON:

- ``hatecheck`` (measure only): ROC-AUC between hateful and non-hateful cases of each
  input policy label's score and of the input risk (below); the share of hateful cases
  blocked or flagged; per functionality the share decided right (hateful: flagged or
  blocked; non-hateful: allowed);
- ``xstest_prompts`` (measure only): unsafe prompts flagged or blocked, safe prompts
  blocked, safe prompts flagged, and the AUC of the input risk (each policy label's score
  over its lowest threshold, the highest one);
- ``davidson``: the same AUCs, hate or offensive vs neither, on the 30% of the set that
  ``classifiers.heads.datasets.davidson_part`` keeps out of training (tweets as they
  are), and the share of each class flagged or blocked;
- ``jailbreakbench`` and ``roleplay`` (measure only; not in the default ``--sets``: their
  long prompts take minutes): JailbreakBench's attack prompts (non-null, deduplicated)
  flagged or blocked and blocked, overall and per attack method; the measure half of
  awesome-chatgpt-prompts (long benign role-play and task prompts,
  ``datasets.awesome_half``) flagged and blocked;
- ``xstest_completions`` (measure only): the refusal-rate label (``policy.refusal_label``
  at ``refusal_threshold``) against the human gold label (full or partial refusal vs
  compliance): accuracy.

Usage: python -m bench.defaults [--config FILE | --preset fast] [--data ../shared/data]
       [--sets hatecheck,xstest_prompts,davidson,xstest_completions,jailbreakbench,roleplay]
The default config (the embedded defaults) is what ``safety-proxy serve --demo`` runs.
This measures decisions, not latency: each check's ``timeout_s`` is raised to 120 s (a
busy bench machine must not turn a score into a fail-open), and ``check_failures`` says
whether any check still failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import structlog
from sklearn.metrics import roc_auc_score

from classifiers.base import ClassifyContext
from classifiers.heads import datasets
from proxy.config.loader import PRESETS, LoadedConfig, load_embedded_defaults, load_file
from proxy.config.schema import Direction
from proxy.config.snapshot import Snapshot, build_snapshot
from proxy.observability.metrics import Metrics
from proxy.pipeline.checks import run_checks
from proxy.pipeline.decision import decide
from proxy.pipeline.views import Windowing
from proxy.state.ports import NoVerdictCache

DATA = Path(__file__).resolve().parents[2] / "shared/data"
SETS = ("hatecheck", "xstest_prompts", "davidson", "xstest_completions")
CONCURRENCY = 32  # texts in flight: lets the checks' micro-batchers fill their batches
# Long prompts (JailbreakBench's templates, role-play) are each dozens of encoder texts (the
# whole text, its windows, their sentences and chunks): fewer in flight keeps the encoder's
# bounded queue from refusing them (a refusal would be a fail-open, not a decision).
LONG_CONCURRENCY = 4


async def decisions(snapshot: Snapshot, texts: Sequence[str], direction: Direction,
                    concurrency: int = CONCURRENCY
                    ) -> list[tuple[str, dict[str, dict[str, float]]]]:
    """Per text: the policy's action and the scores (check -> label -> score)."""
    metrics, gate = Metrics(), asyncio.Semaphore(concurrency)
    policy = snapshot.config.policy.for_direction(direction)
    windowing = Windowing.of(snapshot.config)

    async def one(text: str) -> tuple[str, dict[str, dict[str, float]]]:
        async with gate:
            run = await run_checks(snapshot.checks_for(direction), [text],
                                   ClassifyContext(direction), metrics, NoVerdictCache(),
                                   windowing)
        scores = run.max_by_check()
        FAILURES.extend(failure.classifier for failure in run.failures)
        return decide(policy, scores, run.failures).action, scores

    return list(await asyncio.gather(*(one(t) for t in texts)))


def label_score(scores: dict[str, dict[str, float]], labels: Sequence[str]) -> float:
    """The highest of ``check.label`` scores (0 when none was scored)."""
    return max((scores.get(check, {}).get(label, 0.0) for check, _, label in
                (name.partition(".") for name in labels)), default=0.0)


def risk(scores: dict[str, dict[str, float]], snapshot: Snapshot,
         direction: Direction) -> float:
    """The highest score-over-threshold ratio among the direction's policy labels: above 1
    the policy acts. One number per text, to rank texts the way the policy does."""
    ratios = [scores.get(check, {}).get(label, 0.0) / lowest
              for check, labels in snapshot.config.policy.for_direction(direction).items()
              for label, t in labels.items()
              if (lowest := min(v for v in (t.flag, t.block, t.redact) if v is not None))]
    return max(ratios, default=0.0)


def aucs(snapshot: Snapshot, labels: Sequence[int],
         results: Sequence[tuple[str, dict[str, dict[str, float]]]]) -> dict[str, float]:
    """ROC-AUC of every input policy label's score, and of the input risk."""
    names = [f"{check}.{label}" for check, rules in snapshot.config.policy.input.items()
             for label in rules]
    out = {name: auc(labels, [label_score(s, [name]) for _, s in results]) for name in names}
    out["input_risk"] = auc(labels, [risk(s, snapshot, "input") for _, s in results])
    return out


def share(values: Sequence[bool]) -> float:
    return round(sum(values) / len(values), 4) if values else 0.0


def auc(labels: Sequence[int], scores: Sequence[float]) -> float:
    return round(float(roc_auc_score(labels, scores)), 4)


async def hatecheck(snapshot: Snapshot, data: Path) -> dict[str, Any]:
    rows = datasets.measure_hatecheck(data)
    results = await decisions(snapshot, [r.text for r in rows], "input")
    right: dict[str, list[bool]] = defaultdict(list)
    for row, (action, _) in zip(rows, results, strict=True):
        right[row.group].append((action != "allow") == bool(row.label))
    hateful = [a != "allow" for r, (a, _) in zip(rows, results, strict=True) if r.label]
    return {"file": "hatecheck/test_suite_cases.csv", "n": len(rows),
            "auc": aucs(snapshot, [r.label for r in rows], results),
            "hateful_flagged_or_blocked": share(hateful),
            "non_hateful_allowed": share([a == "allow" for r, (a, _) in
                                          zip(rows, results, strict=True) if not r.label]),
            "accuracy_by_functionality": {g: share(v) for g, v in sorted(right.items())}}


async def xstest_prompts(snapshot: Snapshot, data: Path) -> dict[str, Any]:
    rows = datasets.measure_xstest(data)
    results = await decisions(snapshot, [r.text for r in rows], "input")
    unsafe = [a for r, (a, _) in zip(rows, results, strict=True) if r.label]
    safe = [a for r, (a, _) in zip(rows, results, strict=True) if not r.label]
    return {"file": "xstest/xstest_prompts.csv", "n_unsafe": len(unsafe), "n_safe": len(safe),
            "unsafe_flagged_or_blocked": share([a != "allow" for a in unsafe]),
            "safe_blocked": share([a == "block" for a in safe]),
            "safe_flagged": share([a == "flag" for a in safe]),
            "auc": aucs(snapshot, [r.label for r in rows], results)}


async def davidson(snapshot: Snapshot, data: Path) -> dict[str, Any]:
    rows = datasets.measure_davidson(data)
    results = await decisions(snapshot, [r.text for r in rows], "input")
    return {"file": datasets.DAVIDSON, "part": "measure (never trained on)", "n": len(rows),
            "auc_hate_or_offensive_vs_neither": aucs(snapshot, [r.label for r in rows],
                                                     results),
            "flagged_or_blocked": {kind: share([a != "allow" for r, (a, _) in
                                                zip(rows, results, strict=True)
                                                if r.group == kind])
                                   for kind in datasets.DAVIDSON_CLASSES.values()}}


async def jailbreakbench(snapshot: Snapshot, data: Path) -> dict[str, Any]:
    attacks = list({r.text: r for r in datasets.measure_jailbreakbench(data)}.values())
    actions = [a for a, _ in await decisions(
        snapshot, [r.text for r in attacks], "input", LONG_CONCURRENCY)]
    methods = sorted({r.group for r in attacks})
    return {"file": "jailbreakbench_artifacts/jbb_artifacts.jsonl", "n": len(attacks),
            "flagged_or_blocked": share([a != "allow" for a in actions]),
            "blocked": share([a == "block" for a in actions]),
            "by_method_flagged_or_blocked_and_blocked": {
                m.split(":", 1)[1]: [share([a != "allow" for a in mine]),
                                     share([a == "block" for a in mine])]
                for m in methods
                if (mine := [a for r, a in zip(attacks, actions, strict=True) if r.group == m])}}


async def roleplay(snapshot: Snapshot, data: Path) -> dict[str, Any]:
    prompts = datasets.awesome_prompts(data, "measure")
    results = await decisions(snapshot, [r.text for r in prompts], "input", LONG_CONCURRENCY)
    policy = snapshot.config.policy.input
    over = {f"{check}.{label}": share([
                scores.get(check, {}).get(label, 0.0) >= min(
                    v for v in (t.flag, t.block, t.redact) if v is not None)
                for _, scores in results])
            for check, labels in policy.items() for label, t in labels.items()}
    return {"file": "awesome_chatgpt_prompts/prompts_dedup.csv (measure half)",
            "n": len(prompts), "flagged": share([a == "flag" for a, _ in results]),
            "blocked": share([a == "block" for a, _ in results]),
            "over_lowest_threshold_by_label": over}


async def xstest_completions(snapshot: Snapshot, data: Path) -> dict[str, Any]:
    rows = datasets.measure_xstest_completions(data)
    policy = snapshot.config.policy
    if policy.refusal_label is None:
        return {"skipped": "the config has no policy.refusal_label"}
    results = await decisions(snapshot, [r.text for r in rows], "output")
    said = [label_score(s, [policy.refusal_label]) >= policy.refusal_threshold
            for _, s in results]
    by_model: dict[str, list[bool]] = defaultdict(list)
    for row, refused in zip(rows, said, strict=True):
        by_model[row.group.split("/")[0]].append(refused == bool(row.label))
    return {"file": "xstest/xstest_v2_completions_dev.csv", "n": len(rows),
            "refusal_label": policy.refusal_label,
            "accuracy": share([s == bool(r.label) for r, s in zip(rows, said, strict=True)]),
            "accuracy_by_model": {m: share(v) for m, v in sorted(by_model.items())}}


BENCHES = {"hatecheck": hatecheck, "xstest_prompts": xstest_prompts, "davidson": davidson,
           "xstest_completions": xstest_completions, "jailbreakbench": jailbreakbench,
           "roleplay": roleplay}


FAILURES: list[str] = []


async def main(loaded: LoadedConfig, data: Path, sets: Sequence[str]) -> dict[str, Any]:
    config = loaded.config.model_copy(update={"checks": [
        check.model_copy(update={"timeout_s": 120.0}) for check in loaded.config.checks]})
    snapshot = await build_snapshot(replace(loaded, config=config))
    try:
        report: dict[str, Any] = {"config": str(loaded.source), "data": str(data)}
        for name in sets:
            report[name] = await BENCHES[name](snapshot, data)
        report["check_failures"] = len(FAILURES)
        return report
    finally:
        await snapshot.close()


def load(args: argparse.Namespace) -> LoadedConfig:
    return load_file(args.config) if args.config else load_embedded_defaults(args.preset)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--config", type=Path)
    source.add_argument("--preset", choices=sorted(PRESETS), default="default")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--sets", default=",".join(SETS))
    arguments = parser.parse_args()
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    chosen = [s for s in arguments.sets.split(",") if s]
    if unknown := set(chosen) - set(BENCHES):
        parser.error(f"unknown sets {sorted(unknown)}; known {list(BENCHES)}")
    print(json.dumps(asyncio.run(main(load(arguments), arguments.data, chosen)), indent=2))
