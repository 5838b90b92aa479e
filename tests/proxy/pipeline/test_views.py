"""Views (sans-IO): long texts are scored whole and window by window with carried context,
canonical views are added, and per text the highest score per label wins."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from proxy.pipeline import views
from proxy.pipeline.normalize import canonical_views
from proxy.pipeline.views import (
    Expansion,
    RememberedViews,
    Windowing,
    expand,
    seams,
    views_of,
    windows,
)

W = Windowing(window_chars=10, context_chars=3)


def test_a_short_text_is_its_own_only_view():
    assert windows("short", W) == ["short"]
    assert windows("x" * 10, W) == ["x" * 10]


def test_a_long_text_is_scored_whole_and_in_windows_with_context():
    text = "abcdefghij" "KLMNOPQRST" "uvw"
    assert windows(text, W) == [text, "abcdefghij", "hijKLMNOPQRST", "RSTuvw"]
    assert all(len(window) <= W.window_chars + W.context_chars for window in windows(text, W)[1:])


def test_a_phrase_cut_at_a_window_edge_is_whole_in_the_next_window():
    text = "." * 8 + "idiot" + "." * 20
    assert any("idiot" in window for window in windows(text, W)[1:])


def test_expansion_keeps_owners_and_adds_canonical_views_without_duplicates():
    def canonical(text: str) -> list[str]:
        return [text.upper()] if text.islower() else []

    expansion = expand(["ab", "CD", "ab"], None, canonical)
    assert expansion.views == ["ab", "AB", "CD", "ab", "AB"]
    assert expansion.owners == [0, 0, 1, 2, 2]
    assert expand(["same"], W, lambda text: [text]).views == ["same"]  # deduplicated


def test_fold_keeps_the_highest_score_per_label_per_text():
    expansion = Expansion(["a", "b", "c"], [0, 0, 1], 2)
    folded = expansion.fold([{"bad": 0.1, "meh": 0.9}, {"bad": 0.8, "meh": 0.2}, {"bad": 0.3}])
    assert folded == [{"bad": 0.8, "meh": 0.9}, {"bad": 0.3}]


def test_a_text_with_one_view_folds_to_a_copy_of_its_scores():
    expansion = expand(["a", "b"], None, None)
    scores = [{"bad": 0.1, "meh": 0.9}, {}]
    folded = expansion.fold(scores)
    assert folded == scores
    folded[0]["bad"] = 1.0  # the caller's to change: the scores it came from (cached) stay
    assert scores[0]["bad"] == 0.1
    with pytest.raises(ValueError):  # one score per view, as with several views
        expansion.fold(scores[:1])


def test_without_windowing_or_normalisation_the_texts_are_the_views():
    texts = ["x" * 50, "y"]
    expansion = expand(texts, None, None)
    assert expansion.views == texts and expansion.owners == [0, 1]


def test_fragments_are_read_joined_with_the_words_around_them():
    letters = list("a b")  # a space sent as a part of its own is still a space
    assert seams(letters, reach=8, fragment=4) == ["a b"]
    before, after = "one two three four", "five six seven"
    assert seams([before, "fu", "cking", after], reach=8, fragment=6) == [
        "three four" + "fu" + "cking" + "five six"]  # whole words: "e four" would be "four"
    assert seams(["x", after], reach=8, fragment=4) == ["xfive six"]
    assert seams([before, "x"], reach=8, fragment=4) == ["three fourx"]
    # a window's length of each neighbour: here, all of them
    assert seams([before, "fu", after], reach=240) == [before + "fu" + after]


def test_only_parts_of_one_whole_are_read_across_a_long_seam():
    a, b = "the first long text", "the second long text"
    assert seams([a, b], reach=8, fragment=4) == []  # two messages are read as two
    assert seams([a, b], reach=8, wholes=["m0", "m0"], fragment=4) == [
        "long text" + "the second"]
    assert seams([a, b], reach=8, wholes=["m0", "m1"], fragment=4) == []
    assert seams(["alone"], reach=8) == [] and seams([" ", "x"], reach=8) == []


def test_a_join_is_scored_as_one_more_view_of_its_owner_with_normalisation_only():
    joins = [(0, "ab")]
    expansion = expand(["a", "b"], None, lambda text: [], joins)
    assert expansion.views == ["a", "b", "ab"] and expansion.owners == [0, 1, 0]
    assert expansion.fold([{"x": 0.1}, {"x": 0.2}, {"x": 0.9}]) == [{"x": 0.9}, {"x": 0.2}]
    assert expand(["a", "b"], None, None, joins).views == ["a", "b"]  # judges: texts only


def _counting(calls: list[str]) -> Callable[[str], list[str]]:
    def canonical(text: str) -> list[str]:
        calls.append(text)
        return canonical_views(text)
    return canonical


def test_a_resent_text_s_views_are_kept_from_its_second_sighting(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A conversation re-sends its history: a text's views are made at its first sighting
    and its second (then kept: a text sent once takes no room), and come from
    RememberedViews afterwards, equal to those made fresh; a few words' are made each
    time."""
    monkeypatch.setattr(views, "REMEMBERED", RememberedViews())  # this test's sightings only
    calls: list[str] = []
    canonical = _counting(calls)
    windowing = Windowing(240, 64)
    long = "y0u are an 1d10t. " * 40  # leetspeak: canonical views to make
    short = "y0u are an 1d10t."
    first = expand([long, short], windowing, canonical)
    expand([long], windowing, canonical)  # seen again: kept now
    assert calls == [long, short, long]
    again = expand([short, long], windowing, canonical)  # a third request with both
    assert calls == [long, short, long, short]  # the long text's views came from the memo
    assert set(again.views) == set(first.views) and again.owners[-1] == 1
    fresh = views_of(long, windowing, canonical_views)
    assert tuple(v for v, owner in zip(again.views, again.owners, strict=True) if owner == 1
                 ) == fresh and "you are an idiot. " * 3 in "".join(fresh)
    other_windows = expand([long], Windowing(120, 32), canonical)  # other arguments: made
    assert calls[-1] == long and len(other_windows.views) > len(fresh)


def test_remembered_views_drop_the_least_recently_used_within_their_characters() -> None:
    kept = RememberedViews(max_chars=20_000)  # seven texts: each 1,400 characters, its view too
    texts = [f"text {number} " * 200 for number in range(8)]
    calls: list[str] = []
    canonical = _counting(calls)

    def send(text: str) -> None:
        kept.views(text, None, canonical)

    for text in texts[:6]:
        send(text), send(text)  # seen twice: kept
    send(texts[0])  # used again: now the most recent
    for text in texts[6:8]:
        send(text), send(text)
    assert kept.chars == 7 * 2 * 1_400 and calls == [t for t in texts for _ in (1, 2)]
    calls.clear()
    send(texts[0]), send(texts[1])  # 0 was kept, 1 (then the oldest) was dropped
    assert calls == [texts[1]]
    once = RememberedViews()
    once.views(texts[0], None, None)
    assert once.chars == 0  # a text seen once takes no room
    never = RememberedViews(max_chars=0)
    for _ in range(3):
        assert never.views(texts[0], None, None) == (texts[0],)
    assert never.chars == 0
