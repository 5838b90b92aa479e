"""Request ids the proxy makes itself: 32 random hex digits, never repeated, drawn from
os.urandom a batch at a time."""

from __future__ import annotations

import re

from proxy.routes.common import _FreshIds

HEX32 = re.compile(r"[0-9a-f]{32}")


def test_ids_are_32_hex_digits_and_unique_across_batches() -> None:
    ids = _FreshIds()
    drawn = [ids.draw() for _ in range(2 * _FreshIds.BATCH + 3)]
    assert all(HEX32.fullmatch(one) for one in drawn)
    assert len(set(drawn)) == len(drawn)


def test_a_forked_child_draws_a_batch_of_its_own() -> None:
    parent = _FreshIds()
    parent.draw()
    child = _FreshIds()
    child._hex, child._next = parent._hex, parent._next  # the state a fork copies
    child.forget()  # what os.register_at_fork runs in the child
    assert {child.draw() for _ in range(8)}.isdisjoint(parent.draw() for _ in range(8))
