"""``safety-proxy replay --data FILE --config NEW [--baseline OLD]``: what a new policy
would change on recorded traffic (a review-stream export or JSONL of chat requests).

Prints the baseline -> new transition table, counts of newly blocked / flagged / allowed
overall, per review label and per reason, with examples. Without ``--baseline`` the
baseline is each event's recorded decision. Exit codes: 0 done, 1 bad config or data.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from pathlib import Path

from proxy.commands.tune import add_scoring_options
from proxy.config.loader import ConfigError, load_file
from proxy.config.snapshot import build_snapshot
from proxy.tuning.dataset import DataError
from proxy.tuning.replay import Replay, Side, replay
from proxy.tuning.replay_report import format_replay, replay_json
from proxy.tuning.scoring import Scorer, ScoringError
from proxy.tuning.traffic import Record, load_records


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "replay", help="replay recorded traffic through a new policy and show what changes")
    parser.add_argument("--data", type=Path, required=True,
                        help="JSONL: events export, or chat requests with optional answers")
    parser.add_argument("--config", type=Path, required=True, help="the new policy's config")
    parser.add_argument("--baseline", type=Path,
                        help="the current config (default: the decisions recorded in events)")
    parser.add_argument("--examples", type=int, default=3, metavar="N",
                        help="examples shown per kind of change (default 3)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    add_scoring_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        records = load_records(args.data)
        result = asyncio.run(_replay(args, records))
    except (ConfigError, DataError, ScoringError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(replay_json(result, args.examples), indent=2))
    else:
        baseline = str(args.baseline) if args.baseline else "recorded decisions"
        print(format_replay(result, baseline, str(args.config), args.examples))
    return 0


async def _replay(args: argparse.Namespace, records: list[Record]) -> Replay:
    new_loaded = load_file(args.config)
    baseline_loaded = load_file(args.baseline) if args.baseline else None
    scorer = Scorer(batch_size=args.batch_size, show_progress=not args.quiet)
    async with contextlib.AsyncExitStack() as stack:
        new_snapshot = await build_snapshot(new_loaded)
        stack.push_async_callback(new_snapshot.close)
        baseline = None
        if baseline_loaded is not None:
            checks = new_snapshot.checks
            if baseline_loaded.config.checks != new_loaded.config.checks:
                baseline_snapshot = await build_snapshot(baseline_loaded)
                stack.push_async_callback(baseline_snapshot.close)
                checks = baseline_snapshot.checks
            baseline = Side(baseline_loaded.config, checks)
        return await replay(records, Side(new_loaded.config, new_snapshot.checks), baseline,
                            scorer)
