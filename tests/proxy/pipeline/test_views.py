"""Views (sans-IO): long texts are scored whole and window by window with carried context,
canonical views are added, and per text the highest score per label wins."""

from __future__ import annotations

from proxy.pipeline.views import Expansion, Windowing, expand, windows

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


def test_without_windowing_or_normalisation_the_texts_are_the_views():
    texts = ["x" * 50, "y"]
    expansion = expand(texts, None, None)
    assert expansion.views == texts and expansion.owners == [0, 1]
