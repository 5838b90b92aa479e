"""The long-lived heap kept out of the cycle collector's way.

A full (generation 2) collection walks every container object the process holds, and no
Python thread runs meanwhile: the event loop stalls. Most of those objects are loaded once
and live as long as the process: modules, a tokenizer's tables, a model's parameters and
submodules (about 380,000 objects with a bert-base model loaded, 170-270 ms a collection,
measured: bench/classifier_speed.py's loop lag). ``settle`` collects what is garbage and
freezes what survived (``gc.freeze``), so later collections walk only what was made since.

Contract: call ``settle`` when a large set of objects has just been loaded (start-up); it
walks only what is not frozen yet. Call ``release`` once a large set frozen earlier has
been let go (a config reload's retired snapshot, closed): it unfreezes everything first,
so that frozen garbage, cycles included, is collected (a frozen cycle would otherwise live
forever), then freezes what is left; that is one full collection, the pause it saves
later, so it is for such moments, never for a request path.
"""

from __future__ import annotations

import gc
import time


def settle() -> float:
    """Collects the garbage among the objects not frozen, then freezes the survivors; the
    seconds it took."""
    started = time.perf_counter()
    gc.collect()
    gc.freeze()
    return time.perf_counter() - started


def release() -> float:
    """Unfreezes everything, collects, and freezes the survivors again; the seconds it
    took."""
    gc.unfreeze()
    return settle()
