"""What a check scores for each text: its views. Sans-IO.

A text is scored whole, and, when it is longer than one window, window by window too: each
window of ``window_chars`` carries the last ``context_chars`` before it (the windows of a
stream do the same), so padding cannot dilute a short insult below its threshold and a
phrase cut at a window edge is still seen whole. With normalisation on, every canonical
view of the text (normalize.py: look-alike letters, invisible characters, leetspeak, spaced
letters, encoded runs) is scored the same way. A text's score per label is the highest
over its views. Views are only scored: what the upstream receives never changes.

Views are cached like any text, so the windows of a growing conversation are mostly hits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from classifiers.base import Scores, cut_windows
from proxy.config.schema import ProxyConfig
from proxy.pipeline.decision import max_scores


@dataclass(frozen=True, slots=True)
class Windowing:
    window_chars: int
    context_chars: int

    @classmethod
    def of(cls, config: ProxyConfig) -> Windowing:
        """Long texts are split as streams are: the streaming window and its context."""
        return cls(config.streaming.window_chars, config.streaming.context_chars)


@dataclass(frozen=True, slots=True)
class Expansion:
    views: list[str]  # the texts to score
    owners: list[int]  # owners[i]: the index of the text views[i] was made from
    count: int  # how many texts were expanded

    def fold(self, scores: Sequence[Scores]) -> list[Scores]:
        """Per text, the highest score per label over its views."""
        per_text: list[list[Scores]] = [[] for _ in range(self.count)]
        for owner, view_scores in zip(self.owners, scores, strict=True):
            per_text[owner].append(view_scores)
        return [max_scores(views) for views in per_text]


def expand(texts: Sequence[str], windowing: Windowing | None,
           canonical: Callable[[str], list[str]] | None) -> Expansion:
    """Every text's views, in order: the text, its windows, then each canonical view and
    its windows; without windowing and normalisation, the texts themselves."""
    views: list[str] = []
    owners: list[int] = []
    for index, text in enumerate(texts):
        variants = [text, *(canonical(text) if canonical else ())]
        for view in dict.fromkeys(v for variant in variants for v in windows(variant, windowing)):
            views.append(view)
            owners.append(index)
    return Expansion(views, owners, len(texts))


def windows(text: str, windowing: Windowing | None) -> list[str]:
    """The text, and when it is longer than a window, each window with its context."""
    if windowing is None:
        return [text]
    return [text, *cut_windows(text, windowing.window_chars, windowing.context_chars)]
