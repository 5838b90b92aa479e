"""What a full garbage collection costs the proxy once its checks are loaded, before and
after the heap is settled (classifiers/heap.py), per embedded preset.

A full (generation 2) collection pauses every thread, the event loop included, for as long
as it walks the objects the collector tracks. For each preset this builds the snapshot the
proxy serves (every check started), then times full collections: before settling (what a
collection under load costs without it), the settle itself (once, at start-up) and after
(what a collection walks from then on: what was made since). Prints one JSON document;
each figure is the median of ``--repeat`` collections.

    python -m bench.heap                 # both presets
    python -m bench.heap --presets fast
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import time
from typing import Any

import structlog

from classifiers import heap
from proxy.app import create_app
from proxy.config.loader import PRESETS, load_embedded_defaults
from proxy.config.snapshot import build_snapshot


def full_collections(repeat: int) -> float:
    """The median milliseconds of ``repeat`` full collections."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        gc.collect()
        times.append(1000 * (time.perf_counter() - started))
    return round(statistics.median(times), 3)


async def measure(preset: str, repeat: int) -> dict[str, Any]:
    gc.unfreeze()
    loaded = load_embedded_defaults(preset)
    app = create_app(loaded)  # the server's own objects (routes, metrics), not started
    snapshot = await build_snapshot(loaded)
    try:
        tracked = len(gc.get_objects())
        before = full_collections(repeat)
        settle_ms = round(1000 * heap.settle(), 2)
        after = full_collections(repeat)
        return {"preset": preset, "tracked_objects": tracked, "full_collection_ms": before,
                "settle_ms": settle_ms, "frozen_objects": gc.get_freeze_count(),
                "full_collection_after_settle_ms": after}
    finally:
        await snapshot.close()
        del app
        gc.unfreeze()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", nargs="+", choices=sorted(PRESETS), default=sorted(PRESETS))
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))  # JSON alone
    runs = [asyncio.run(measure(preset, args.repeat)) for preset in args.presets]
    print(json.dumps({"runs": runs}, indent=1))


if __name__ == "__main__":
    main()
