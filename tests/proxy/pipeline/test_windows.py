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
