"""``safety-proxy check-config FILE``: validate a config (and start its classifiers)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from proxy.config.loader import ConfigError, LoadedConfig, load_file
from proxy.config.snapshot import build_snapshot


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("check-config", help="validate a config file")
    parser.add_argument("file", type=Path)
    parser.add_argument("--no-start", action="store_true",
                        help="check the schema only; do not load classifier models")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        loaded = load_file(args.file)
        if not args.no_start:
            asyncio.run(_start_and_close(loaded))
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    checks = ", ".join(check.name for check in loaded.config.checks) or "none"
    print(f"{args.file}: OK (checks: {checks}; sha256 {loaded.sha256[:12]})")
    return 0


async def _start_and_close(loaded: LoadedConfig) -> None:
    snapshot = await build_snapshot(loaded)
    await snapshot.close()
