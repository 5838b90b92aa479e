"""Shared by the tuning tests: run a sub-command's handler as the CLI would, write configs
for the scripted classifier, find the shared data sets."""

from __future__ import annotations

import argparse
import importlib
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

# The data sets live beside the checkout (../shared/data); read in place, never copied.
DATA = Path(os.environ.get("SAFETY_PROXY_DATA",
                           Path(__file__).resolve().parents[4] / "shared" / "data"))


def data_file(relative: str) -> Path:
    path = DATA / relative
    if not path.is_file():
        pytest.skip(f"shared data set {path} is absent (set SAFETY_PROXY_DATA to its folder)")
    return path


def run_command(name: str, *argv: str) -> int:
    """Parses ``argv`` with the command's own ``register`` and runs its handler."""
    parser = argparse.ArgumentParser(prog="safety-proxy")
    importlib.import_module(f"proxy.commands.{name}").register(parser.add_subparsers())
    args = parser.parse_args([name.replace("_", "-"), *argv])
    code: int = args.func(args)
    return code


def scripted_config(path: Path, policy: dict[str, Any], triggers: dict[str, Any],
                    labels: tuple[str, ...] = ("bad", "meh")) -> Path:
    """A config with one scripted check ``script`` on both directions."""
    config = {"upstream": {"base_url": "http://127.0.0.1:9/v1"},
              "checks": [{"name": "script", "type": "scripted",
                          "options": {"labels": list(labels), "triggers": triggers}}],
              "policy": policy, "reload": {"watch": False}}
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path
