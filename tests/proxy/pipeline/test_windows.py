"""Window tracking for streamed answers."""

from __future__ import annotations

from proxy.pipeline.windows import WindowTracker


def test_window_fills_carries_context_and_commits():
    tracker = WindowTracker(window_chars=10, context_chars=4)
    tracker.add(0, "abcdefgh")
    assert not tracker.full()
    tracker.add(0, "ijkl")
    assert tracker.full()
    (window,) = tracker.take()
    assert window.text == "abcdefghijkl"
    tracker.add(0, "MORE")  # arrives while the window is being checked
    tracker.commit()
    tracker.add(0, "mnopqr")
    (window,) = tracker.take()
    assert window.text == "ijkl" + "MOREmnopqr"  # context: the last 4 checked chars
    tracker.commit()
    assert tracker.answers() == {0: "abcdefghijklMOREmnopqr"}


def test_choices_are_tracked_separately_and_final_takes_the_rest():
    tracker = WindowTracker(window_chars=5, context_chars=0)
    tracker.add(0, "12345")
    tracker.add(1, "ab")
    assert [(w.choice, w.text) for w in tracker.take()] == [(0, "12345")]
    tracker.commit()
    assert [(w.choice, w.text) for w in tracker.take(final=True)] == [(1, "ab")]


def test_full_is_recomputed_by_commit():
    """`full` is kept by add and commit, not recounted on each call: a commit leaves it set
    while any choice (the committed one, with text that came during its check, or another)
    still holds a window, and clears it when none does."""
    tracker = WindowTracker(window_chars=5, context_chars=2)
    tracker.add(0, "12345")
    tracker.add(1, "abcde")
    tracker.take()
    tracker.add(0, "6789")  # arrives while both windows are checked
    tracker.commit()
    assert not tracker.full()
    tracker.add(0, "0")
    assert tracker.full()
    tracker.take()
    tracker.add(1, "fghij")  # the other choice fills while choice 0's window is checked
    tracker.commit()
    assert tracker.full()
    assert [(w.choice, w.text) for w in tracker.take()] == [(1, "defghij")]
    tracker.commit()
    assert not tracker.full()
    assert tracker.answers() == {0: "1234567890", 1: "abcdefghij"}
