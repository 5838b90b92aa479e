"""``safety-proxy tune --config FILE --data FILE``: evidence for a threshold.

Scores labeled data with the config's checks, prints ROC-AUC and the rates at candidate
thresholds per label, recommends the threshold that meets the target with the most
recall, writes a PNG plot and prints the YAML to paste. Exit codes: 0 done, 1 bad config,
data or classifier failure, 3 no threshold meets the target for some tuned label.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

import yaml

from proxy.config.loader import (
    ConfigError,
    LoadedConfig,
    load_embedded_defaults,
    load_file,
    parse,
)
from proxy.config.snapshot import build_snapshot
from proxy.tuning.analysis import Tuning, tune
from proxy.tuning.dataset import PRESETS, DataError, DataSpec, Example, load_examples
from proxy.tuning.plot import PlotUnavailable, write_plot
from proxy.tuning.recommend import Target
from proxy.tuning.report import format_report
from proxy.tuning.scoring import Scorer, ScoringError
from proxy.tuning.snippet import candidate_config, policy_snippet, shadow_snippet

NO_THRESHOLD = 3


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "tune", help="recommend thresholds from labeled data (ROC-AUC, rates, plot, YAML)")
    parser.add_argument("--config", type=Path, help="config file (default: embedded defaults)")
    add_data_options(parser)
    parser.add_argument("--label", action="append", default=[], metavar="CHECK.LABEL",
                        help="label to tune (repeatable; default: those in the policy)")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--min-precision", type=_share, metavar="P",
                        help="target: precision at least P (default 0.9)")
    target.add_argument("--max-fpr", type=_share, metavar="F",
                        help="target: false-positive rate at most F")
    parser.add_argument("--action", choices=("flag", "block"), default="block",
                        help="which threshold the recommendation sets (default block)")
    parser.add_argument("--plot", type=Path, default=Path("tune.png"),
                        help="PNG to write (default tune.png)")
    parser.add_argument("--no-plot", action="store_true", help="write no plot")
    parser.add_argument("--yaml", type=Path, help="also write the policy snippet to this file")
    parser.add_argument("--write-config", type=Path, metavar="FILE",
                        help="write a copy of --config with the recommended thresholds "
                             "(a candidate for replay; comments are not kept)")
    add_scoring_options(parser)
    parser.set_defaults(func=run)


def add_data_options(parser: argparse.ArgumentParser) -> None:
    data = parser.add_argument_group("labeled data")
    data.add_argument("--data", type=Path, required=True, help="CSV, or JSONL (.jsonl)")
    data.add_argument("--preset", choices=sorted(PRESETS),
                      help="column and label mapping of a known data set")
    data.add_argument("--text-column", help="column with the text (default text)")
    data.add_argument("--label-column", help="column with the label (default label)")
    data.add_argument("--positive", type=_values, metavar="VALUE[,VALUE...]",
                      help="label values that mean 'should be flagged'; others do not")
    data.add_argument("--prompt-column", help="column with the prompt an answer replies to")
    data.add_argument("--direction", choices=("input", "output"),
                      help="score the texts as user messages or answers (default input)")
    data.add_argument("--limit", type=_count, help="use a random sample of this many rows")
    data.add_argument("--seed", type=int, default=0, help="seed of that sample")


def add_scoring_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--batch-size", type=_count, default=64,
                        help="texts per classify call")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def data_spec(args: argparse.Namespace) -> DataSpec:
    """The preset's values, overridden by every option given."""
    chosen: dict[str, Any] = dict(PRESETS[args.preset]) if args.preset else {}
    for name in ("text_column", "label_column", "positive", "prompt_column", "direction"):
        if getattr(args, name) is not None:
            chosen[name] = getattr(args, name)
    return DataSpec(**chosen, limit=args.limit, seed=args.seed)


def load_config(path: Path | None) -> LoadedConfig:
    return load_file(path) if path else load_embedded_defaults()


def run(args: argparse.Namespace) -> int:
    if args.write_config and not args.config:
        print("error: --write-config needs --config (the file to copy)", file=sys.stderr)
        return 1
    target = Target(max_fpr=args.max_fpr) if args.max_fpr is not None else Target(
        min_precision=0.9 if args.min_precision is None else args.min_precision)
    try:
        spec = data_spec(args)
        examples = load_examples(args.data, spec)
        tuning, loaded = asyncio.run(_tune(args, spec, examples, target))
    except (ConfigError, DataError, ScoringError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(format_report(tuning))
    try:
        _write_outputs(args, tuning, loaded)
    except (PlotUnavailable, ConfigError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    missed = any(result.recommended is None for result in tuning.tuned_results())
    return NO_THRESHOLD if missed else 0


async def _tune(args: argparse.Namespace, spec: DataSpec, examples: list[Example],
                target: Target) -> tuple[Tuning, LoadedConfig]:
    loaded = load_config(args.config)
    snapshot = await build_snapshot(loaded)
    try:
        scorer = Scorer(batch_size=args.batch_size, show_progress=not args.quiet)
        return await tune(snapshot, examples, spec.direction, target, args.action,
                          args.label, scorer), loaded
    finally:
        await snapshot.close()


def _write_outputs(args: argparse.Namespace, tuning: Tuning, loaded: LoadedConfig) -> None:
    if not args.no_plot:
        write_plot(tuning, args.plot)
        print(f"\nplot: {args.plot}")
    snippet = policy_snippet(tuning, args.data.name)
    if not snippet:
        return
    print(f"\npaste into the config:\n\n{snippet}\nor watch it on live traffic first "
          f"(a shadow policy replaces the whole threshold set):\n\n"
          f"{shadow_snippet(loaded.config.policy, tuning)}")
    if args.yaml:
        args.yaml.write_text(snippet, encoding="utf-8")
    if args.write_config:
        _write_candidate(args.config, args.write_config, tuning)
        print(f"candidate config: {args.write_config}\n  safety-proxy replay --data "
              f"TRAFFIC.jsonl --config {args.write_config} --baseline {args.config}")


def _write_candidate(source: Path, target: Path, tuning: Tuning) -> None:
    """The source config's data with the new thresholds, validated before it is written."""
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    text = yaml.safe_dump(candidate_config(data, tuning), sort_keys=False)
    parse(text.encode(), str(target))
    target.write_text(text, encoding="utf-8")


def _share(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive whole number")
    return value


def _values(text: str) -> frozenset[str]:
    values = frozenset(value.strip() for value in text.split(",") if value.strip())
    if not values:
        raise argparse.ArgumentTypeError("give at least one label value")
    return values
