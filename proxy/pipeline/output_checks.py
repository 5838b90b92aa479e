"""Checks a whole (non-streamed) answer: every choice, content and tool-call arguments.

Each choice is decided on its own texts, so with ``n > 1`` only the blocked choices are
replaced; the moderation's decision covers all choices.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from classifiers.base import ClassifyContext
from proxy.config.snapshot import Snapshot
from proxy.observability.metrics import Metrics
from proxy.pipeline.attachments import is_inline_image, read_inline_clips, read_inline_images
from proxy.pipeline.checks import run_checks
from proxy.pipeline.decision import decide
from proxy.pipeline.moderation import Moderation
from proxy.pipeline.transcribe import Transcriber
from proxy.pipeline.views import Windowing, seams
from proxy.protocol.dialect import AnswerText
from proxy.protocol.media import is_inline_clip
from proxy.state.ports import VerdictCache


def scored_texts(answer: Sequence[AnswerText]) -> list[tuple[int, str]]:
    """(output index, text) for every non-empty text of an answer."""
    return [(text.output, text.text) for text in answer if text.text.strip()]


async def read_pictures(snapshot: Snapshot, texts: list[tuple[int, str]],
                        metrics: Metrics) -> list[tuple[int, str]]:
    """``texts`` with each image in them (a generated image, as base64 or a data: URL)
    replaced by the text read in it (``server.ocr``), when answers are checked at all. An
    image not read is counted unscanned; its picture is never judged."""
    if not snapshot.checks_for("output") or not any(is_inline_image(t) for _, t in texts):
        return texts
    outcomes: Counter[str] = Counter()
    texts, unread = await read_inline_images(texts, snapshot.config.server, outcomes)
    metrics.count_ocr(outcomes)
    if unread:
        metrics.unscanned_parts.labels("output").inc(unread)
    return texts


async def hear_clips(snapshot: Snapshot, texts: list[tuple[int, str]],
                     transcriber: Transcriber | None,
                     metrics: Metrics) -> list[tuple[int, str]]:
    """``texts`` with each spoken answer (a whole audio clip, as base64) replaced by the
    speech heard in it (``server.transcription``), when answers are checked at all. A clip
    not heard is dropped from the texts and counted unscanned; its sound is never
    judged."""
    if not snapshot.checks_for("output") or not any(is_inline_clip(t) for _, t in texts):
        return texts
    heard: Counter[str] = Counter()
    texts, unread = await read_inline_clips(texts, transcriber, heard)
    metrics.count_transcriptions(heard)
    if unread:
        metrics.unscanned_parts.labels("output").inc(unread)
    return texts


async def moderate_answer(snapshot: Snapshot, texts: Sequence[tuple[int, str]],
                          context: ClassifyContext, metrics: Metrics, cache: VerdictCache,
                          tenant: str | None = None, *,
                          window: bool = False) -> tuple[Moderation, set[int]]:
    """The output moderation and the indices of the choices to block. For a stream window,
    only the checks with ``windows: true`` run."""
    checks = tuple(check for check in snapshot.checks_for("output")
                   if check.config.windows or not window)
    if not texts or not checks:
        return Moderation("output", texts=[t for _, t in texts]), set()
    windowing = Windowing.of(snapshot.config)
    if window:  # a stream window is one window and its context, unless one delta brought
        # more text than a window: split that too, or a long delta would dilute a short insult
        windowing = Windowing(windowing.window_chars + windowing.context_chars,
                              windowing.context_chars)
    joins = [] if window else _joins(texts, windowing.window_chars)  # a window: one text
    run = await run_checks(checks, [text for _, text in texts], context, metrics, cache,
                           windowing, joins)
    policy = snapshot.policy_for("output", tenant)
    scores = run.max_by_check()
    decision = decide(policy, scores, run.failures)
    outputs = {index for index, _ in texts}
    if len(outputs) == 1:  # one choice (most answers): the answer's decision is its own
        blocked = outputs if decision.blocked else set()
    else:
        blocked = {index for index in outputs if decide(policy, run.max_by_check(
            [p for p, (i, _) in enumerate(texts) if i == index]), run.failures).blocked}
    return Moderation("output", decision, scores, [t for _, t in texts], run), blocked


def _joins(texts: Sequence[tuple[int, str]], reach: int) -> list[tuple[int, str]]:
    """Per output, the views across the seams of its texts (views.seams), owned by its first
    text's position: a choice's content, reasoning and tool arguments read across, as a
    stream's windows read them."""
    if len(texts) < 2:  # most answers: one text
        return []
    positions: dict[int, list[int]] = {}
    for position, (index, _) in enumerate(texts):
        positions.setdefault(index, []).append(position)
    return [(mine[0], view) for mine in positions.values()
            for view in seams([texts[p][1] for p in mine], reach)]
