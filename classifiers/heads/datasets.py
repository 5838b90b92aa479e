"""Readers for the labeled sets under ``../shared/data`` (read in place, never copied).

Two kinds, kept apart on purpose: ``training_*`` readers return the sets whose licenses
allow shipping derived weights and that the data README marks for TRAINING; ``measure_*``
readers return sets used only to measure (never trained on, never used to pick a
threshold). ``label`` is 1 for the head's positive class, 0 for benign, -1 unlabeled.
Validation splits are made on embedding clusters (see ``train``), since AdvBench is
templated and near-duplicates must stay on one side of a split.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

csv.field_size_limit(sys.maxsize)  # awesome-chatgpt-prompts has a few very long prompts


class Row(NamedTuple):
    text: str
    label: int
    group: str  # "<source>:<topic>" where the set has one (provenance, not the split)
    source: str


def _csv(path: Path) -> Iterator[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        yield from csv.DictReader(handle)


def _jsonl(path: Path) -> Iterator[dict[str, object]]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def harmful_requests(data: Path) -> list[Row]:
    """AdvBench goals, HarmBench standard + contextual behaviors (context first; copyright
    rows left out: lyrics requests are not unsafe requests), GPTFuzz questions. All MIT."""
    rows = [Row(r["goal"], 1, "advbench", "advbench")
            for r in _csv(data / "advbench/harmful_behaviors.csv")]
    for r in _csv(data / "harmbench_behaviors/harmbench_behaviors_text_all.csv"):
        if r["FunctionalCategory"] == "copyright":
            continue
        text = (f"{r['ContextString']}\n\n{r['Behavior']}"
                if r["FunctionalCategory"] == "contextual" else r["Behavior"])
        rows.append(Row(text, 1, f"harmbench:{r['SemanticCategory']}", "harmbench"))
    rows += [Row(r["text"], 1, "gptfuzz", "gptfuzz")
             for r in _csv(data / "gptfuzz/question_list.csv")]
    return rows


def benign_requests(data: Path) -> list[Row]:
    """self-instruct instructions and their example inputs (Apache-2.0), awesome-chatgpt
    prompts (CC0-1.0: benign role-play), ToxiGen neutral statements about identity groups
    (MIT: neutral identity mentions must not look like a harmful request)."""
    rows: list[Row] = []
    for name in ("seed_tasks.jsonl", "user_oriented_instructions.jsonl"):
        for task in _jsonl(data / "self_instruct" / name):
            group = f"self_instruct:{task['id']}"
            rows.append(Row(str(task["instruction"]), 0, group, "self_instruct"))
            for instance in task.get("instances") or []:  # type: ignore[attr-defined]
                if len(text := str(instance.get("input", "")).strip()) >= 20:
                    rows.append(Row(text, 0, group, "self_instruct"))
    rows += [Row(r["prompt"], 0, f"awesome:{r['act']}", "awesome_chatgpt_prompts")
             for r in _csv(data / "awesome_chatgpt_prompts/prompts_dedup.csv") if r["prompt"]]
    rows += [Row(r["text"], 0, f"toxigen:{r['target_group']}", "toxigen_neutral")
             for r in _csv(data / "toxigen_statements/toxigen_statements.csv")
             if r["label"] == "neutral"]
    return rows


def training_harmful_request(data: Path) -> list[Row]:
    """The harmful_request head's training rows, deduplicated and sorted (deterministic)."""
    seen: dict[str, Row] = {}
    for row in harmful_requests(data) + benign_requests(data):
        seen.setdefault(row.text.strip(), row._replace(text=row.text.strip()))
    return sorted(seen.values())


# ----- measurement sets: never trained on, never used to choose a threshold -----

def measure_xstest(data: Path) -> list[Row]:
    """XSTest prompts (CC-BY-4.0): 200 unsafe (label 1), 250 safe look-alikes (label 0)."""
    return [Row(r["prompt"], int(r["label"] == "unsafe"), f"xstest:{r['type']}", "xstest")
            for r in _csv(data / "xstest/xstest_prompts.csv")]


def measure_jailbreakbench(data: Path) -> list[Row]:
    """JailbreakBench artifacts (MIT): attack prompts (label 1), null prompts dropped."""
    return [Row(str(r["prompt"]), 1, f"jbb:{r['method']}", "jailbreakbench")
            for r in _jsonl(data / "jailbreakbench_artifacts/jbb_artifacts.jsonl")
            if r.get("prompt")]


def measure_hh_first_turns(data: Path) -> list[Row]:
    """HH-RLHF harmless test first user turns (MIT): unlabeled (label -1), flag rate only."""
    return [Row(str(r["first_user_turn"]), -1, "hh", "hh_rlhf")
            for r in _jsonl(data / "hh_rlhf_harmless_test/harmless_base_test.jsonl")]
