"""What a check scores for each text: its views. Sans-IO.

A text is scored whole, and, when it is longer than one window, window by window too: each
window of ``window_chars`` carries the last ``context_chars`` before it (the windows of a
stream do the same), so padding cannot dilute a short insult below its threshold and a
phrase cut at a window edge is still seen whole. With normalisation on, every canonical
view of the text (normalize.py: look-alike letters, invisible characters, leetspeak, spaced
letters, encoded runs) is scored the same way. A text's score per label is the highest
over its views. Views are only scored: what the upstream receives never changes.

Fragments are read joined too. A text cut into pieces, each innocent alone (a letter per
content part or per message, a word split in two), reaches the model as one text; so, with
normalisation on, the caller's ``joins`` are scored as more texts, with their windows and
canonical views, their scores folded into a text of theirs: for a request, or one answer's
output, each run of short texts joined, with the end of the longer text before it and the
start of the one after, a window's length of each (``seams``). Only around fragments:
joining whole conversations doubled the default checks' cost and flagged more benign
multi-message requests; and the excerpts are a window long, as short ones read the text
beside a fragment more keenly than its own windows do (measured).

Views are cached like any text, so the windows of a growing conversation are mostly hits;
and a text's views are made once while it keeps being sent (``RememberedViews``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import NamedTuple

from classifiers.base import Scores, cut_windows
from proxy.config.schema import ProxyConfig
from proxy.pipeline.decision import max_scores
from proxy.state.cache import SeenOnce

FRAGMENT_CHARS = 24  # a text shorter than this is a fragment: read joined with its neighbours


class Windowing(NamedTuple):  # NamedTuples here: made on every request, as cheap as can be
    window_chars: int
    context_chars: int

    @classmethod
    def of(cls, config: ProxyConfig) -> Windowing:
        """Long texts are split as streams are: the streaming window and its context."""
        return cls(config.streaming.window_chars, config.streaming.context_chars)


class Expansion(NamedTuple):
    views: list[str]  # the texts to score
    owners: list[int]  # owners[i]: the index of the text views[i] was made from
    texts: int  # how many texts were expanded

    def fold(self, scores: Sequence[Scores]) -> list[Scores]:
        """Per text, the highest score per label over its views."""
        if len(self.owners) == self.texts == len(scores):  # a view per text: the text itself
            return [dict(view_scores) for view_scores in scores]
        per_text: list[list[Scores]] = [[] for _ in range(self.texts)]
        for owner, view_scores in zip(self.owners, scores, strict=True):
            per_text[owner].append(view_scores)
        return [max_scores(views) for views in per_text]


def expand(texts: Sequence[str], windowing: Windowing | None,
           canonical: Callable[[str], list[str]] | None,
           joins: Sequence[tuple[int, str]] = ()) -> Expansion:
    """Every text's views, in order: the text, its windows, then each canonical view and
    its windows; without windowing and normalisation, the texts themselves. With
    normalisation, each (owner, joined text) of ``joins`` adds the joined text's views to
    its owner's (see the module's docstring). The views of a text sent again come from
    ``REMEMBERED`` while it keeps them."""
    views: list[str] = []
    owners: list[int] = []
    extra = joins if canonical else ()
    for index, text in [*enumerate(texts), *extra]:
        made = (REMEMBERED.views(text, windowing, canonical) if len(text) >= LONG_TEXT
                else views_of(text, windowing, canonical))
        views += made
        owners += [index] * len(made)
    return Expansion(views, owners, len(texts))


def views_of(text: str, windowing: Windowing | None,
             canonical: Callable[[str], list[str]] | None) -> tuple[str, ...]:
    """One text's views, each once: the text, its windows, each canonical view and its
    windows."""
    variants = [text, *(canonical(text) if canonical else ())]
    return tuple(dict.fromkeys(v for variant in variants for v in windows(variant, windowing)))


# A text at least this long (most messages) has its views kept: a conversation re-sends its
# history every turn (a system prompt, earlier messages and answers), and though their
# verdicts come from the cache, their views were made again each time (a 4,000-character
# text's canonical views alone take 40-300 us, a short message's 3-10); a few words cost
# less to read again than to look up.
LONG_TEXT = 64
REMEMBERED_CHARS = 8_000_000  # what the kept views and their texts hold, at most


class RememberedViews:
    """The views of texts sent more than once, by text and how they were made
    (``views_of``'s arguments: its output depends on nothing else), from a text's second
    sighting (``SeenOnce``, as the verdict cache's in-process verdicts: a text sent once, a
    new prompt or an answer, costs a bit in a bitmap, not an entry), the least recently
    used dropped first once the texts and views kept hold more than ``max_chars``
    characters. One event loop uses it: no lock."""

    def __init__(self, max_chars: int = REMEMBERED_CHARS) -> None:
        self.max_chars = max_chars
        self._kept: OrderedDict[tuple[str, Windowing | None, object], tuple[str, ...]] = (
            OrderedDict())  # a dict's oldest entry is found by a scan past those deleted
        self._seen = SeenOnce()
        self._chars = 0

    def views(self, text: str, windowing: Windowing | None,
              canonical: Callable[[str], list[str]] | None) -> tuple[str, ...]:
        key = (text, windowing, canonical)
        made = self._kept.get(key)
        if made is not None:
            self._kept.move_to_end(key)
            return made
        made = views_of(text, windowing, canonical)
        if self._seen.again(text) and self.max_chars:
            self._kept[key] = made
            self._chars += _chars(text, made)
            while self._chars > self.max_chars:
                (old, *_), views = self._kept.popitem(last=False)
                self._chars -= _chars(old, views)
        return made

    @property
    def chars(self) -> int:
        return self._chars


def _chars(text: str, views: tuple[str, ...]) -> int:
    return len(text) + sum(map(len, views))


REMEMBERED = RememberedViews()


def seams(texts: Sequence[str], reach: int, wholes: Sequence[Hashable] | None = None,
          fragment: int = FRAGMENT_CHARS) -> list[str]:
    """Views across the seams of fragments (see the module's docstring): each run of texts
    shorter than ``fragment`` (blank ones too: a space sent as a part of its own is still a
    space), with the last ``reach`` characters of the longer text before it and the first
    ``reach`` of the one after (whole words), concatenated. ``reach``: a window's length
    (``Windowing.window_chars``), so that a view is no shorter than the windows a long text
    is read in already: a short excerpt would read a text more keenly than its windows do.
    Two longer texts in a row give a view only when they are parts of one whole
    (``wholes[i]``: what texts[i] is a part of, e.g. one message's content parts, which the
    model reads as one text); otherwise each is read whole and in windows, and a model reads
    two messages as two."""
    if len(texts) < 2:  # most requests and answers: nothing to join
        return []
    views: list[tuple[str, ...]] = []  # each: the pieces it joins
    tail, fragments = "", []  # the view being built: a longer text's tail, then fragments
    whole: Hashable = None  # what the longer text before was a part of
    for position, text in enumerate(texts):
        if len(text) < fragment:
            fragments.append(text)
            continue
        mine = wholes[position] if wholes is not None else object()
        if fragments or (tail and mine == whole):
            views.append((tail, *fragments, _head(text, reach)))
        tail, fragments, whole = _tail(text, reach), [], mine
    views.append((tail, *fragments))
    # a view adds something when it joins two pieces that hold text
    return list(dict.fromkeys("".join(view) for view in views
                              if sum(1 for piece in view if piece.strip()) >= 2))


def _head(text: str, reach: int) -> str:
    """The first ``reach`` characters, and the rest of the word they end in (up to
    ``reach`` more): a cut inside a word would make a new one ("class" -> "clas")."""
    end = reach
    while end < min(len(text), 2 * reach) and not text[end].isspace():
        end += 1
    return text[:end]


def _tail(text: str, reach: int) -> str:
    """The last ``reach`` characters, from the start of the word they begin in."""
    start = len(text) - reach
    while start > max(0, len(text) - 2 * reach) and not text[start - 1].isspace():
        start -= 1
    return text[start:]


def windows(text: str, windowing: Windowing | None) -> list[str]:
    """The text, and when it is longer than a window, each window with its context."""
    if windowing is None:
        return [text]
    return [text, *cut_windows(text, windowing.window_chars, windowing.context_chars)]
