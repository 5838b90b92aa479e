"""The memory store's bounded map: at most max_keys entries, the least recently written
first out, each entry gone at its own expiry time."""

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
