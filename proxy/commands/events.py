"""``safety-proxy events tail|export``: read the review stream from the configured store.

  events tail   --config FILE [-n 20] [--follow]      newest events, then new ones as they come
  events export --config FILE [--since T | --after ID] [--output FILE]   JSON lines, oldest first

Each line is one event as JSON (the same shape as the admin API's). Exit codes: 0 done,
1 config or store error (the message says which), 2 a memory store (no shared state).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import TextIO

import orjson

from proxy.config.loader import ConfigError
from proxy.state.base import Event, Store, StoreError
from proxy.state.events import event_json
from proxy.state.factory import NoSharedStore, open_cli_store

PAGE = 500
# The work run on an open store: returns its exit code, or None for 0.
Work = Callable[[Store], Awaitable[int | None]]
MAX_SEQ = 2**64 - 1


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("events", help="read the review stream (flags and blocks)")
    actions = parser.add_subparsers(dest="events_action", required=True, metavar="ACTION")
    tail = actions.add_parser("tail", help="print the newest events (and follow new ones)")
    tail.add_argument("--config", required=True, type=Path, help="the proxy's config file")
    tail.add_argument("-n", "--count", type=int, default=20, help="events to show first")
    tail.add_argument("-f", "--follow", action="store_true", help="keep printing new events")
    tail.add_argument("--interval", type=float, default=1.0, help="seconds between polls")
    tail.set_defaults(func=tail_command)
    export = actions.add_parser("export", help="write events as JSON lines, oldest first")
    export.add_argument("--config", required=True, type=Path, help="the proxy's config file")
    start = export.add_mutually_exclusive_group()
    start.add_argument("--since", help="ISO-8601 time or epoch milliseconds")
    start.add_argument("--after", help="an event id; export the events after it")
    export.add_argument("--output", type=Path, help="file to write (default: stdout)")
    export.set_defaults(func=export_command)


def tail_command(args: argparse.Namespace) -> int:
    return run_with_store(
        args.config, lambda store: _tail(store, args.count, args.follow, args.interval))


def export_command(args: argparse.Namespace) -> int:
    try:
        after = args.after or (_id_before(args.since) if args.since else None)
    except ValueError as exc:
        print(f"--since: {exc}", file=sys.stderr)
        return 1
    if args.output is None:
        return run_with_store(args.config, lambda store: _export(store, after, sys.stdout))
    with args.output.open("w", encoding="utf-8") as out:
        return run_with_store(args.config, lambda store: _export(store, after, out))


def run_with_store(config: Path, work: Work) -> int:
    """Opens the config's store, runs ``work`` on it, closes it; returns the exit code."""
    try:
        _, store = open_cli_store(config)
    except NoSharedStore as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    try:
        return asyncio.run(_with_store(store, work))
    except KeyboardInterrupt:
        return 0


async def _with_store(store: Store, work: Work) -> int:
    try:
        code = await work(store)
    except StoreError as exc:
        print(f"state store error: {exc}", file=sys.stderr)
        return 1
    finally:
        await store.close()
    return code or 0


async def _tail(store: Store, count: int, follow: bool, interval: float) -> None:
    events = await store.recent_events(count)
    last = _write(events, sys.stdout)
    while follow:
        await asyncio.sleep(interval)
        last = _write(await store.events(last, PAGE), sys.stdout) or last


async def _export(store: Store, after: str | None, out: TextIO) -> None:
    while True:
        page = await store.events(after, PAGE)
        if not page:
            return
        after = _write(page, out)


def _write(events: Iterable[Event], out: TextIO) -> str | None:
    last = None
    for event in events:
        out.write(orjson.dumps(event_json(event.id, dict(event.fields))).decode() + "\n")
        last = event.id
    out.flush()
    return last


def _id_before(since: str) -> str:
    """The largest event id before time ``since`` (ids start with their epoch ms)."""
    if since.isdigit():
        ms = int(since)
    else:
        moment = datetime.fromisoformat(since.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            raise ValueError("give a time zone, e.g. 2026-11-24T06:00:00Z")
        ms = int(moment.timestamp() * 1000)
    return f"{ms - 1}-{MAX_SEQ}"
