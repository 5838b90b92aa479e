"""Scores moderation units with a snapshot's checks, in batches, each distinct text once.

A unit is what the proxy decides on at once: some texts and an optional prompt; its score
per label is the highest over its texts, as in the live pipeline. Scores are cached by
what determines them (the check's type, options and version, the direction, the prompt,
the text), so a second policy with the same checks, even under other names, reuses them.

Classifiers are called directly, without the live ``timeout_s``: a tuning run may take
minutes, and a failure aborts it (a silently skipped batch would bias the evidence).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from classifiers.base import ClassifyContext, Direction, Scores
from proxy.config.snapshot import Check
from proxy.pipeline.decision import max_scores
from proxy.pipeline.normalize import canonical_views
from proxy.pipeline.views import Windowing, expand, seams
from proxy.tuning.progress import Progress

CacheKey = tuple[str, str, str | None, str]  # check fingerprint, direction, prompt, text
UnitScores = dict[str, dict[str, float]]  # check name -> label -> highest score


class ScoringError(Exception):
    """A classifier failed or returned malformed scores."""


@dataclass(frozen=True, slots=True)
class Unit:
    texts: tuple[str, ...]
    prompt: str | None = None


def fingerprint(check: Check, windowing: Windowing | None = None) -> str:
    """What a check's scores depend on besides the text: its type, version and options,
    and which views it scores (windowing, normalisation)."""
    options = json.dumps(check.config.options, sort_keys=True, default=str)
    split = windowing if check.config.windows else None
    return (f"{check.config.type}|{check.classifier.version}|{options}|{split}|"
            f"{check.normalizes}")


class Scorer:
    def __init__(self, batch_size: int = 64, concurrency: int = 4,
                 show_progress: bool = True) -> None:
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.show_progress = show_progress
        self.cache: dict[CacheKey, Scores] = {}
        self.classified = 0  # texts sent to classifiers (tests assert reuse with it)

    async def score(self, checks: Sequence[Check], direction: Direction,
                    units: Sequence[Unit], windowing: Windowing | None = None
                    ) -> list[UnitScores]:
        """``windowing``: the live config's (``Windowing.of``), so each text is scored on
        the views the proxy scores (windows, canonical views), the highest winning."""
        for check in checks:
            await self._fill(check, direction, units, windowing)
        return [{check.name: max_scores([self.cache[(fingerprint(check, windowing), direction,
                                                      unit.prompt, text)]
                                         for text in _read(unit, check, windowing)])
                 for check in checks} for unit in units]

    async def _fill(self, check: Check, direction: Direction, units: Sequence[Unit],
                    windowing: Windowing | None) -> None:
        key = fingerprint(check, windowing)
        missing: dict[str | None, dict[str, None]] = {}  # prompt -> distinct texts, in order
        for unit in units:
            for text in _read(unit, check, windowing):
                if (key, direction, unit.prompt, text) not in self.cache:
                    missing.setdefault(unit.prompt, {})[text] = None
        batches = [(prompt, chunk) for prompt, texts in missing.items()
                   for chunk in _chunks(list(texts), self.batch_size)]
        progress = Progress(f"scoring {direction} with {check.name}",
                            sum(len(chunk) for _, chunk in batches), enabled=self.show_progress)
        limit = asyncio.Semaphore(self.concurrency)

        async def run(prompt: str | None, chunk: list[str]) -> None:
            async with limit:
                scores = await self._views_scores(check, chunk, ClassifyContext(direction, prompt),
                                                  windowing)
            for text, text_scores in zip(chunk, scores, strict=True):
                self.cache[(key, direction, prompt, text)] = text_scores
            progress.advance(len(chunk))

        await asyncio.gather(*(run(prompt, chunk) for prompt, chunk in batches))
        progress.finish()

    async def _views_scores(self, check: Check, texts: list[str], context: ClassifyContext,
                            windowing: Windowing | None) -> list[Scores]:
        expansion = expand(texts, windowing if check.config.windows else None,
                           canonical_views if check.normalizes else None)
        return expansion.fold(await self._classify(check, expansion.views, context))

    async def _classify(self, check: Check, texts: list[str],
                        context: ClassifyContext) -> list[Scores]:
        try:
            scores = await check.classifier.classify(texts, context)
        except Exception as exc:
            raise ScoringError(f"check {check.name!r} failed: {type(exc).__name__}: {exc}") from exc
        self.classified += len(texts)
        if len(scores) != len(texts) or any(
                label not in check.classifier.labels or not 0.0 <= value <= 1.0
                for text_scores in scores for label, value in text_scores.items()):
            raise ScoringError(f"check {check.name!r} returned malformed scores")
        return list(scores)


def _read(unit: Unit, check: Check, windowing: Windowing | None) -> list[str]:
    """What the proxy scores of a unit's texts with ``check``: the texts, and for a check
    that normalises, the views across their fragments' seams (views.seams). Recorded texts
    hold no blank parts and do not say which were one message's parts or a batch's
    prompts: each is taken as a whole of its own, all of one request. Without windowing
    the neighbours of fragments are taken whole."""
    reach = windowing.window_chars if windowing is not None else sys.maxsize
    return [*unit.texts, *(seams(unit.texts, reach) if check.normalizes else ())]


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[start:start + size] for start in range(0, len(items), size)]
