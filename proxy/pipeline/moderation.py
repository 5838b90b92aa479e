"""A moderation: one direction's checks run and decided, ready to act on and record."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from classifiers.base import ClassifyContext, Direction
from proxy.config.snapshot import Snapshot
from proxy.observability.metrics import Metrics
from proxy.pipeline.checks import CheckRun, observe_scores, run_checks
from proxy.pipeline.decision import decide
from proxy.pipeline.views import Windowing, seams
from proxy.state.ports import VerdictCache
from proxy.verdict import ALLOW, Decision


@dataclass(slots=True)
class Moderation:
    direction: Direction
    decision: Decision = ALLOW
    scores: dict[str, dict[str, float]] = field(default_factory=dict)  # check -> label -> max
    texts: Sequence[str] = ()
    run: CheckRun = field(default_factory=CheckRun)


async def moderate(snapshot: Snapshot, direction: Direction, texts: Sequence[str],
                   context: ClassifyContext, metrics: Metrics, cache: VerdictCache,
                   tenant: str | None = None,
                   joins: Sequence[tuple[int, str]] | None = None) -> Moderation:
    """Scores ``texts`` (in the order the model reads them) with the direction's checks,
    and ``joins``, views across fragments as (position among the non-empty texts, text):
    by default those of ``texts`` read as one conversation (views.seams); and decides with
    the tenant's policy. Empty texts are skipped."""
    scored = [text for text in texts if text.strip()]
    checks = snapshot.checks_for(direction)
    if not scored or not checks:
        return Moderation(direction, texts=scored)
    windowing = Windowing.of(snapshot.config)
    if joins is None:
        joins = [(0, view) for view in seams(texts, windowing.window_chars)]
    run = await run_checks(checks, scored, context, metrics, cache, windowing, joins)
    scores = run.max_by_check()
    policy = snapshot.policy_for(direction, tenant)
    return Moderation(direction, decide(policy, scores, run.failures), scores, scored, run)


def record_moderation(metrics: Metrics, snapshot: Snapshot, moderation: Moderation,
                      tenant: str | None = None) -> None:
    """Counts one moderation: decision, score distributions, toxic and refusal rates."""
    direction = moderation.direction
    policy = snapshot.config.policy
    metrics.moderations.labels(direction, moderation.decision.action).inc()
    if tenant is not None:
        metrics.tenant_moderations.labels(tenant, direction, moderation.decision.action).inc()
    record_shadow(metrics, snapshot, moderation)
    if not moderation.scores:  # nothing scored (no checks, or all failed): no score to count
        return
    observe_scores(metrics, direction, moderation.scores)
    if any(_score(moderation, q) >= policy.toxic_threshold for q in policy.toxic_labels):
        metrics.toxic.labels(direction).inc()
    if direction == "output" and policy.refusal_label is not None and (
            _score(moderation, policy.refusal_label) >= policy.refusal_threshold):
        metrics.refusals.inc()


def record_shadow(metrics: Metrics, snapshot: Snapshot, moderation: Moderation) -> None:
    """What the shadow policy would have decided on the same scores; never acted on."""
    shadow = snapshot.config.shadow_policy
    if shadow is None:
        return
    direction = moderation.direction
    candidate = decide(shadow.for_direction(direction), moderation.scores, moderation.run.failures)
    live = moderation.decision.action
    metrics.shadow_decisions.labels(direction, candidate.action).inc()
    if candidate.action != live:
        metrics.shadow_disagreements.labels(direction, live, candidate.action).inc()


def _score(moderation: Moderation, qualified: str) -> float:
    check_name, _, label = qualified.partition(".")
    return moderation.scores.get(check_name, {}).get(label, -1.0)
