"""What windowing and normalisation cost: the embedded default checks (profanity, refusal)
scoring one input through the pipeline's own ``run_checks``, with views (windows and
canonical views, as the proxy runs) and without (each check told ``windows: false,
normalize: false``), on a short chat prompt and a 4,000-character prompt.

Prints JSON: median microseconds per request over repeated rounds (each round times every
case once, interleaved), the ratio views/plain, and how many texts each case scored. Every
request's text is unique (a counter first), so no verdict comes from a cache.

``conversation``: what a conversation's later turns cost when its history's verdicts are
cached (the fast preset's input checks, the verdict cache on the memory store): each
request re-sends a 4,000-character system prompt and the turns before, and adds one new
message; with a text's views kept from its second sighting (``views.RememberedViews``, as
the proxy runs) and made again each time.

    python -m bench.views [--rounds 7] [--requests 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path

from classifiers.base import ClassifyContext
from proxy.config.loader import parse
from proxy.config.snapshot import Snapshot, build_snapshot
from proxy.config.state_settings import CacheConfig
from proxy.observability.metrics import Metrics
from proxy.pipeline import views
from proxy.pipeline.checks import run_checks
from proxy.pipeline.views import RememberedViews, Windowing
from proxy.state.cache import StoreVerdictCache
from proxy.state.health import StoreHealth
from proxy.state.keys import Keys
from proxy.state.memory import MemoryStore
from proxy.state.ports import NoVerdictCache

ROOT = Path(__file__).resolve().parent.parent
SHORT = "Please summarise the plot of a detective novel in two sentences."
PARAGRAPH = ("The committee met on Tuesday to review the garden budget, the new benches and "
             "the schedule for planting tulips along the north path. ")
LONG = (PARAGRAPH * 40)[:4000]


async def snapshot(views: bool) -> Snapshot:
    path = ROOT / "proxy/config/defaults.yaml"
    raw = path.read_text()
    if not views:
        raw = raw.replace("    on_error: fail_open\n",
                          "    on_error: fail_open\n    windows: false\n    normalize: false\n")
    return await build_snapshot(parse(raw.encode(), str(path)))


async def time_requests(snap: Snapshot, text: str, count: int, offset: int) -> float:
    """Median microseconds per request over ``count`` unique requests."""
    durations = []
    windowing = Windowing.of(snap.config)
    for number in range(count):
        unique = f"({offset + number}) {text}"
        started = time.perf_counter()
        await run_checks(snap.checks_for("input"), [unique], ClassifyContext("input"),
                         Metrics(), NoVerdictCache(), windowing)
        durations.append(time.perf_counter() - started)
    return statistics.median(durations) * 1e6


async def time_conversation(snap: Snapshot, turns: int, remembered: bool, tag: str) -> float:
    """Median microseconds per request over a conversation's turns 3 to ``turns``."""
    views.REMEMBERED = RememberedViews(views.REMEMBERED_CHARS if remembered else 0)
    metrics, store = Metrics(), MemoryStore()
    cache = StoreVerdictCache(store, StoreHealth(store, metrics), metrics, Keys(), CacheConfig())
    history = [f"You are the assistant of the garden committee ({tag}). {LONG}"]
    durations = []
    for turn in range(turns):
        history.append(f"({tag}-{turn}) {SHORT}")
        started = time.perf_counter()
        await run_checks(snap.checks_for("input"), history, ClassifyContext("input"), metrics,
                         cache, Windowing.of(snap.config))
        durations.append(time.perf_counter() - started)
        history.append(f"Here is the summary you asked for, turn {turn}. " * 3)
    return statistics.median(durations[2:]) * 1e6


async def main(rounds: int, requests: int) -> dict:
    snaps = {"views": await snapshot(True), "plain": await snapshot(False)}
    samples: dict[str, list[float]] = {}
    try:
        for round_number in range(rounds):
            for size, text in (("short", SHORT), ("4000_chars", LONG)):
                for mode, snap in snaps.items():
                    offset = round_number * requests * 10
                    samples.setdefault(f"{size}/{mode}", []).append(
                        await time_requests(snap, text, requests, offset))
    finally:
        for snap in snaps.values():
            await snap.close()
    medians = {key: round(statistics.median(values), 1) for key, values in samples.items()}
    return {"rounds": rounds, "requests_per_round": requests, "median_us_per_request": medians,
            "ratio_views_over_plain": {
                size: round(medians[f"{size}/views"] / medians[f"{size}/plain"], 2)
                for size in ("short", "4000_chars")},
            "conversation": await conversation(rounds)}


async def conversation(rounds: int, turns: int = 12) -> dict:
    path = ROOT / "proxy/config/fast.yaml"
    snap = await build_snapshot(parse(path.read_bytes(), str(path)))
    samples: dict[str, list[float]] = {}
    try:
        for round_number in range(rounds):
            for mode, remembered in (("views_kept", True), ("views_made_again", False)):
                samples.setdefault(mode, []).append(await time_conversation(
                    snap, turns, remembered, f"{round_number}-{mode}"))
    finally:
        views.REMEMBERED = RememberedViews()
        await snap.close()
    medians = {mode: round(statistics.median(values), 1) for mode, values in samples.items()}
    return {"turns": turns, "median_us_per_request_turns_3_on": medians,
            "ratio_kept_over_made_again": round(medians["views_kept"]
                                                / medians["views_made_again"], 2)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.rounds, args.requests)), indent=2))
