"""The state layer's bounded map: at most max_keys entries, the least recently written (or,
``keep_used``, used) first out, each entry gone at its own expiry time."""

from __future__ import annotations

from proxy.state.memory import ExpiringMap


def test_the_least_recently_written_entry_goes_first() -> None:
    entries: ExpiringMap[str] = ExpiringMap(max_keys=2)
    entries.set("a", "1", expires_ms=1_000)
    entries.set("b", "2", expires_ms=1_000)
    assert entries.get("a", now_ms=0) == "1"  # a read does not keep "a" in
    entries.set("c", "3", expires_ms=1_000)
    assert [key for key, _, _ in entries.live(now_ms=0)] == ["b", "c"]
    entries.set("b", "2bis", expires_ms=1_000)  # a write does: "c" is now the oldest
    entries.set("d", "4", expires_ms=1_000)
    assert [key for key, _, _ in entries.live(now_ms=0)] == ["b", "d"]
    assert entries.get("b", now_ms=0) == "2bis"


def test_an_entry_expires_at_its_own_time() -> None:
    entries: ExpiringMap[int] = ExpiringMap(max_keys=10)
    entries.set("short", 1, expires_ms=100)
    entries.set("long", 2, expires_ms=200)
    assert entries.get("short", now_ms=99) == 1
    assert entries.get("short", now_ms=100) is None  # expiry time reached: gone
    assert [key for key, _, _ in entries.live(now_ms=150)] == ["long"]
    assert entries.pop("long") == 2 and entries.pop("long") is None


def test_a_map_that_keeps_used_entries_is_an_lru_with_expiry_from_the_write() -> None:
    """The verdict cache's local copies: a read makes an entry the most recently used (the
    least recently used goes first, not the oldest write); an entry lives until the expiry
    its last write gave it, whatever reads it meanwhile."""
    entries: ExpiringMap[dict[str, float]] = ExpiringMap(max_keys=2, keep_used=True)
    entries.set("a", {"bad": 0.1}, expires_ms=31_000)
    entries.set("b", {"bad": 0.2}, expires_ms=31_000)
    assert entries.get("a", now_ms=1_000) == {"bad": 0.1}  # a is now the most recently used
    entries.set("c", {"bad": 0.3}, expires_ms=31_000)
    assert (entries.get("b", now_ms=1_000), entries.get("a", now_ms=1_000),
            entries.get("c", now_ms=1_000)) == (None, {"bad": 0.1}, {"bad": 0.3})
    assert entries.get("a", now_ms=30_000) == {"bad": 0.1}
    entries.set("c", {"bad": 0.4}, expires_ms=60_000)  # written again: a later expiry
    assert entries.get("a", now_ms=31_000) is None and len(entries) == 1, "read or not"
    assert entries.get("c", now_ms=59_000) == {"bad": 0.4}
