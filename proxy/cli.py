"""The ``safety-proxy`` command: one sub-command per module in ``proxy.commands``."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from proxy import __version__

COMMANDS = ("serve", "demo_upstream", "check_config", "config_schema", "score", "tune", "replay",
            "events", "principals", "keys")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="safety-proxy", description=(
        "A safety-monitoring reverse proxy for OpenAI-compatible chat-completion APIs."))
    parser.add_argument("--version", action="version", version=f"safety-proxy {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"proxy.commands.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
