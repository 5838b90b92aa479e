"""Runs one direction's checks over a list of texts: concurrently, each with its timeout.

Contract: ``run_checks`` never raises for a classifier's fault. A check that raises, hangs
past ``timeout_s`` or returns malformed scores becomes a CheckFailure (its ``on_error``
applies in the decision) and is counted; the other checks' scores are kept. Scores come
from the verdict cache where present; only the texts it misses reach the classifier.

An in-process check (``Classifier.in_process``) that can score its texts now
(``scores_now``) runs as a plain call in the caller's step, before the others start: the
same cache, metrics, span and failures, without the coroutines, context copy and timer
around an awaited check (18 -> 7.5 us of machinery per check run, microbenchmark). Its timeout
cannot cut it, as it never could cut a classifier that does not wait. Its verdicts stay in
this process's cache (cache.py).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog

from classifiers.base import Classifier, ClassifyContext, Direction, Overloaded, Scores
from classifiers.tasks import gather_few, within
from proxy.config.snapshot import Check
from proxy.observability.metrics import Metrics
from proxy.observability.tracing import note_cache_hits, traced_check, traced_check_now
from proxy.pipeline.decision import max_scores
from proxy.pipeline.normalize import canonical_views
from proxy.pipeline.views import Expansion, Windowing, expand
from proxy.state.ports import VerdictCache
from proxy.verdict import CheckFailure

log = structlog.get_logger("safety_proxy.checks")
CALL_TEXTS = 128


@dataclass(slots=True)
class CheckRun:
    """Per-text scores of every check that succeeded, and the checks that failed."""

    scores: dict[str, list[Scores]] = field(default_factory=dict)
    failures: list[CheckFailure] = field(default_factory=list)

    def max_by_check(self, positions: Sequence[int] | None = None) -> dict[str, dict[str, float]]:
        """check -> label -> highest score, over all texts or the given positions."""
        return {name: max_scores(per_text if positions is None else
                                 [per_text[i] for i in positions])
                for name, per_text in self.scores.items()}


async def run_checks(checks: Sequence[Check], texts: Sequence[str], context: ClassifyContext,
                     metrics: Metrics, cache: VerdictCache,
                     windowing: Windowing | None = None,
                     joins: Sequence[tuple[int, str]] = ()) -> CheckRun:
    """``windowing``: how long texts are split in windows (for checks with ``windows:
    true``); None: each text whole. ``joins``: fragments read joined, (owner, text), by
    the checks that normalise (views.py)."""
    run = CheckRun()
    if not checks:
        return run
    expansions: dict[tuple[bool, bool], Expansion] = {}
    for check in checks:
        shape = _shape(check, windowing)
        if shape not in expansions:  # normalise and split once per shape, not per check
            expansions[shape] = expand(texts, windowing if shape[0] else None,
                                       canonical_views if shape[1] else None, joins)
    outcomes: dict[int, list[Scores] | CheckFailure] = {}
    waiting = []  # (position, check, its expansion): the checks awaited
    for position, check in enumerate(checks):
        expansion = expansions[_shape(check, windowing)]
        if check.classifier.scores_now(expansion.views):
            outcomes[position] = traced_check_now(
                check.name, check.config.type, context.direction, len(expansion.views),
                _run_now, check, expansion, context, metrics, cache)
        else:
            waiting.append((position, check, expansion))
    if waiting:
        awaited = await gather_few(*(
            traced_check(c.name, c.config.type, context.direction, len(expansion.views),
                         _run_one(c, expansion, context, metrics, cache))
            for _, c, expansion in waiting))
        outcomes.update(zip((position for position, *_ in waiting), awaited, strict=True))
    for position, check in enumerate(checks):
        outcome = outcomes[position]
        if isinstance(outcome, CheckFailure):
            run.failures.append(outcome)
        else:
            run.scores[check.name] = outcome
    return run


def _shape(check: Check, windowing: Windowing | None) -> tuple[bool, bool]:
    """How a check sees texts: (split in windows, canonical views too)."""
    return (check.config.windows and windowing is not None, check.normalizes)


async def _run_one(check: Check, expansion: Expansion, context: ClassifyContext,
                   metrics: Metrics, cache: VerdictCache) -> list[Scores] | CheckFailure:
    """Per text, the highest scores over its views; or the check's failure."""
    started = time.perf_counter()
    try:
        # no extra task, and no timer for a classifier that scores in its first step
        scores = expansion.fold(await within(_scored(check, expansion.views, context, cache),
                                             check.config.timeout_s))
    except Exception as exc:  # any classifier fault is contained here
        return _failure(check, exc, metrics)
    finally:
        metrics.classifier_duration.labels(check.name).observe(time.perf_counter() - started)
    metrics.check_outcomes.labels(check.name, "ok").inc()
    return scores


def _run_now(check: Check, expansion: Expansion, context: ClassifyContext,
             metrics: Metrics, cache: VerdictCache) -> list[Scores] | CheckFailure:
    """``_run_one`` for a classifier that scores now, in the caller (``scores_now``)."""
    started = time.perf_counter()
    classifier, views = check.classifier, expansion.views

    def score(missing: list[int]) -> list[Scores]:
        fresh = classifier.classify_now([views[i] for i in missing], context)
        _validate(check, fresh, len(missing))
        return fresh

    try:
        scores, hits = cache.scored_here(check.name, classifier.version,
                                         _cache_keys(classifier, views, context), score)
        note_cache_hits(hits)
        scores = expansion.fold(scores)
    except Exception as exc:  # any classifier fault is contained here
        return _failure(check, exc, metrics)
    finally:
        metrics.classifier_duration.labels(check.name).observe(time.perf_counter() - started)
    metrics.check_outcomes.labels(check.name, "ok").inc()
    return scores


async def _scored(check: Check, texts: Sequence[str], context: ClassifyContext,
                  cache: VerdictCache) -> list[Scores]:
    classifier = check.classifier
    keys = _cache_keys(classifier, texts, context)
    cached = (cache.local(check.name, classifier.version, keys) if classifier.in_process
              else await cache.get_many(check.name, classifier.version, keys))
    missing = [i for i, hit in enumerate(cached) if hit is None]
    note_cache_hits(len(texts) - len(missing))
    if missing:
        fresh = await _classify_in_calls(classifier, [texts[i] for i in missing], context)
        _keep(check, cache, keys, cached, missing, fresh)
    return [scores or {} for scores in cached]


def _keep(check: Check, cache: VerdictCache, keys: Sequence[str],
          cached: list[Scores | None], missing: list[int], fresh: list[Scores]) -> None:
    """The classifier's ``fresh`` scores of the ``missing`` texts, once valid, put in
    their places in ``cached`` and in the cache (shared, unless ``in_process``)."""
    _validate(check, fresh, len(missing))
    for position, scores in zip(missing, fresh, strict=True):
        cached[position] = scores
    cache.put_many(check.name, check.classifier.version, [keys[i] for i in missing], fresh,
                   shared=not check.classifier.in_process)


async def _classify_in_calls(classifier: Classifier, texts: Sequence[str],
                            context: ClassifyContext) -> list[Scores]:
    """One request's texts reach a classifier in calls of at most CALL_TEXTS, one after
    another: however many texts a request carries, it never fills a classifier's queue on
    its own (every batcher queues at least that many), so its size cannot switch a
    fail-open check off."""
    scores: list[Scores] = []
    for start in range(0, len(texts), CALL_TEXTS):
        scores += await classifier.classify(texts[start:start + CALL_TEXTS], context)
    return scores


def _cache_keys(classifier: Classifier, texts: Sequence[str],
                context: ClassifyContext) -> Sequence[str]:
    """What the verdict cache keys on (it hashes them): the text, and for a classifier
    whose score depends on the context, the context's fingerprint too (it holds the
    direction), or on the direction alone, the direction."""
    if classifier.reads_context:
        fingerprint = context.fingerprint()
        return [f"{fingerprint}\x00{text}" for text in texts]
    if classifier.reads_direction:
        return [f"{context.direction}\x00{text}" for text in texts]
    return texts


def _validate(check: Check, scores: Sequence[Scores], expected: int) -> None:
    if len(scores) != expected:
        raise ValueError(f"returned {len(scores)} results for {expected} texts")
    for text_scores in scores:
        for label, score in text_scores.items():
            if label not in check.classifier.labels or not 0.0 <= score <= 1.0:
                raise ValueError(f"bad score {label!r}={score!r}")


def _failure(check: Check, exc: Exception, metrics: Metrics) -> CheckFailure:
    if isinstance(exc, TimeoutError):
        return _failed(check, "timeout", metrics, "timed out")
    if isinstance(exc, Overloaded):  # other requests fill its queue: backpressure, not a fault
        return _failed(check, "overloaded", metrics, str(exc))
    return _failed(check, "error", metrics, f"{type(exc).__name__}: {exc}")


def _failed(check: Check, kind: str, metrics: Metrics, detail: str) -> CheckFailure:
    metrics.check_outcomes.labels(check.name, kind).inc()
    if check.config.on_error == "fail_open":
        metrics.fail_open.labels(check.name).inc()
    log.warning("check_failed", check=check.name, kind=kind, detail=detail,
                on_error=check.config.on_error)
    return CheckFailure(check.name, kind, check.config.on_error)  # type: ignore[arg-type]


def observe_scores(metrics: Metrics, direction: Direction,
                   scores: dict[str, dict[str, float]]) -> None:
    """One observation per moderation per label: the highest score of that label."""
    for check_name, labels in scores.items():
        for label, score in labels.items():
            metrics.classifier_score.labels(check_name, label, direction).observe(score)
