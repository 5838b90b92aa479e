"""Checks that a fast reader stands in for a general one: on generated inputs it either
declines (None) or gives what the general reader gives."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

GENERATED = 20_000
LEAST_TAKEN = 1_000  # the fast reader took this many at least: else nothing was compared


def assert_stands_in(generate: Callable[[random.Random], Any], fast: Callable[[Any], Any],
                     general: Callable[[Any], Any]) -> None:
    rng = random.Random(18)
    taken = 0
    for _ in range(GENERATED):
        value = generate(rng)
        read = fast(value)
        if read is not None:
            taken += 1
            assert read == general(value), value
    assert taken >= LEAST_TAKEN, taken
