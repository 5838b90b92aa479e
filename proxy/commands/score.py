"""``safety-proxy score TEXT...``: every check's scores and the decision per direction.

The quickest way to see what a threshold does: each text is scored as an input (a user
message) and as an output (an answer) by the checks of that direction.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from classifiers.base import ClassifyContext
from proxy.config.loader import (
    PRESETS,
    ConfigError,
    LoadedConfig,
    load_embedded_defaults,
    load_file,
)
from proxy.config.snapshot import Snapshot, build_snapshot
from proxy.observability.metrics import Metrics
from proxy.pipeline.checks import run_checks
from proxy.pipeline.decision import decide
from proxy.pipeline.views import Windowing
from proxy.state.ports import NoVerdictCache


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("score", help="score texts and show the decisions")
    parser.add_argument("texts", nargs="+", metavar="TEXT")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--config", type=Path, help="config file (default: embedded defaults)")
    source.add_argument("--preset", choices=sorted(PRESETS), default="default",
                        help="a shipped config instead of a file (default: the embedded "
                        "defaults)")
    parser.add_argument("--json", action="store_true", help="print JSON lines")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        loaded = load_file(args.config) if args.config else load_embedded_defaults(args.preset)
        results = asyncio.run(_score_all(loaded, args.texts))
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    for result in results:
        print(json.dumps(result) if args.json else _format(result))
    return 0


async def _score_all(loaded: LoadedConfig, texts: list[str]) -> list[dict[str, Any]]:
    snapshot = await build_snapshot(loaded)
    try:
        return [await _score_one(snapshot, text) for text in texts]
    finally:
        await snapshot.close()


async def _score_one(snapshot: Snapshot, text: str) -> dict[str, Any]:
    result: dict[str, Any] = {"text": text}
    for direction in ("input", "output"):
        run = await run_checks(snapshot.checks_for(direction), [text],
                               ClassifyContext(direction), Metrics(), NoVerdictCache(),
                               Windowing.of(snapshot.config))
        scores = run.max_by_check()
        decision = decide(snapshot.config.policy.for_direction(direction), scores,
                          run.failures)
        result[direction] = {"scores": scores, "decision": decision.action,
                             "reasons": [r.as_dict() for r in decision.reasons],
                             "failed": [f.classifier for f in run.failures]}
    return result


def _format(result: dict[str, Any]) -> str:
    lines = [f"text: {result['text']!r}"]
    for direction in ("input", "output"):
        part = result[direction]
        lines.append(f"  {direction}: {part['decision'].upper()}")
        for check, labels in part["scores"].items():
            scores = "  ".join(f"{label}={score:.3f}" for label, score in labels.items())
            lines.append(f"    {check:<12} {scores}")
        for reason in part["reasons"]:
            lines.append(f"    -> {reason['action']}: {reason['classifier']}.{reason['label']} "
                         f"{reason['score']} >= {reason['threshold']}")
        for check in part["failed"]:
            lines.append(f"    !! {check} failed")
    return "\n".join(lines)
