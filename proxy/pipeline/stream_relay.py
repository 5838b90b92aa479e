"""Relays an upstream SSE stream to the client while checking it window by window.

One moderator for every dialect: the dialect's stream codec turns each event into text
deltas per output and says which events end the stream; the codec also writes the API's
own terminal events when a stream is cut.

Modes (``streaming.mode``):
- ``buffered``: events are held until the window holding their text has passed, so no
  blocked window ever reaches the client. Added latency: one window.
- ``low_latency``: events are relayed at once (the stream's first as soon as it is read,
  then those of one upstream read in one write, so a burst of small events costs one
  write, not one each); windows are checked concurrently, one at a time, and the stream
  is cut at the first blocked window. At most the blocked window plus the text relayed
  while its check ran (under one more window, since a full window waits for the check
  before it) can reach the client: under ``2 * window_chars`` characters. A window whose
  checks all score in-process is decided at once, before the event that filled it is
  relayed (no task): then under one window reaches the client. Relayed events
  never wait on a check, nor on the upstream. An answer already complete when its first
  event is read (the upstream wrote it faster than the proxy reads, as under load) is a
  burst like any other: its events, read with its end, go in the end's write once the
  whole answer's check finishes without waiting (in-process classifiers), and are
  written before it waits otherwise. Under load that is one write per stream, as in
  buffered mode (at 16 connections 97% of the demo's answers were complete at their
  first event, at one connection none).

An event carrying an image (a generated image, whole or partial) is read by OCR first, its
text standing for it, and reaches the client only once every text before it and in it has
been checked, in both modes.

In both modes the events that end the stream (a choice's ``finish_reason``, ``[DONE]``,
``response.completed``, ``message_stop``...) are held until the whole answer has been
checked at the end. A cut stream ends with the dialect's "stopped by the content filter"
events, carrying the refusal text when no text had reached the client yet. An upstream
that breaks mid-stream yields an in-band error event, then ``[DONE]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

import structlog
from aiohttp import web

from classifiers.tasks import cancel_suspended, ended_or_spawned, first_step, resumed
from proxy.pipeline.attachments import is_inline_image
from proxy.pipeline.context import RequestContext
from proxy.pipeline.decision import combine
from proxy.pipeline.moderation import Moderation
from proxy.pipeline.output_checks import moderate_answer, read_pictures
from proxy.pipeline.upstream_http import Answer, UpstreamHTTPError
from proxy.pipeline.windows import Window, WindowTracker
from proxy.protocol import sse
from proxy.protocol.dialect import EventView
from proxy.protocol.errors import BadRequest
from proxy.protocol.safety import safety_object
from proxy.verdict import Decision

log = structlog.get_logger("safety_proxy.stream")
T = TypeVar("T")


class ClientGone(Exception):
    """The client disconnected; the upstream request is abandoned."""


class RelayedStream(web.StreamResponse):
    """The client's side of a relayed stream. ``StreamRelay`` prepares it right before its
    first write, so its status line and headers leave with the first event, in one write
    (one TCP segment, one wakeup of the client) rather than in a write of their own:
    aiohttp's class attribute for this, as its ``web.Response`` sets it."""

    _send_headers_immediately = False


class StreamRelay:
    def __init__(self, ctx: RequestContext, response: web.StreamResponse,
                 request: web.Request) -> None:
        streaming = ctx.snapshot.config.streaming
        self.ctx = ctx
        self.response = response
        self.request = request
        self.low_latency = streaming.mode == "low_latency"
        self.windows = WindowTracker(streaming.window_chars, streaming.context_chars)
        self.held: list[bytes] = []  # buffered: events whose window is not checked yet
        # low_latency: events relayed but not yet written; every write, and every wait on a
        # check, sends them first, so the client sees events in order and without delay.
        self.outbox: list[bytes] = []
        self.held_text = False  # some held event carries answer text
        self.text_sent = False  # some answer text reached the client
        self.relayed = 0  # events read that reached the client (not counting held ends)
        assert ctx.parsed is not None
        self.codec = ctx.dialect.stream(ctx.parsed, ctx.request_id)
        self.tail: list[bytes] = []  # events that end the stream, held to the very end
        self.window_moderations: list[Moderation] = []  # every window checked so far
        self.pending_check: asyncio.Task[Decision] | None = None
        self.open_choices: set[int] = set()
        self.first_byte_at: float | None = None

    async def relay(self, upstream: Answer) -> None:
        try:
            if not self.ctx.snapshot.checks_for("output"):
                await self._pass_through(upstream)  # nothing to check: bytes as they come
                return
            finished = await self._pump(upstream)
            if finished:
                await self._finish()
        except ClientGone:
            self.ctx.error_kind = "client_disconnected"
        finally:
            if self.pending_check is not None:
                self.pending_check.cancel()
            upstream.release()  # closes it unless it was read to its end

    async def _pass_through(self, upstream: Answer) -> None:
        try:
            async for chunk in upstream.content.iter_any():
                await self._send(chunk)
        except (UpstreamHTTPError, TimeoutError) as exc:
            await self._broken(f"the upstream stream broke: {type(exc).__name__}")

    async def _pump(self, upstream: Answer) -> bool:
        """Reads the upstream to its end; False when the stream was cut or broke."""
        decoder = sse.SSEDecoder()
        try:
            async for chunk in upstream.content.iter_any():
                for event in decoder.feed(chunk):
                    if not await self._on_event(event):
                        return False
                    if self.outbox and self.first_byte_at is None and not upstream.complete:
                        await self._send()  # low latency: the first event leaves at once
                if not (self.tail and upstream.complete):  # else _finish writes them
                    await self._send()  # this read's relayed events, in one write
            for event in decoder.close():
                if not await self._on_event(event):
                    return False
        except (UpstreamHTTPError, TimeoutError) as exc:
            await self._broken(f"the upstream stream broke: {type(exc).__name__}")
            return False
        return True

    async def _on_event(self, event: sse.SSEEvent) -> bool:
        try:
            view = self.codec.read(event)
        except BadRequest:  # nested past MAX_DEPTH: cannot be checked, so never relayed
            await self._broken("the upstream stream sent an event nested too deeply to check")
            return False
        encoded = sse.relayed(event)  # what the codec read, not the bytes as they came
        pictured = _holds_picture(view.texts)
        if pictured:  # a generated image: the text in it, read, stands for it
            view.texts = await self._unhindered(
                read_pictures(self.ctx.snapshot, view.texts, self.ctx.metrics))
        self._window(view)
        if pictured and not view.ends and not await self._check_now():
            return False  # an image reaches the client only once its text has passed
        if view.ends:
            self.tail.append(encoded)
        elif not self.low_latency:
            self.held.append(encoded)
            self.held_text |= bool(view.texts)
        # most events fill no window, and in low-latency mode find no check to settle
        if ((self.pending_check is not None or self.windows.full())
                and not await self._check_if_full()):
            return False
        if self.low_latency and not view.ends:  # relayed once no decision already cut it
            self.text_sent |= bool(view.texts)
            self.relayed += 1
            self.outbox.append(encoded)
        return True

    def _window(self, view: EventView) -> None:
        """The event's texts added to their windows; the outputs it opens and closes noted."""
        for index, text in view.texts:
            self.open_choices.add(index)
            self.windows.add(index, text)
        for index, rank, text in view.alternatives:
            self.windows.add(_side(index, rank), text)
        if view.finished:
            self.open_choices -= view.finished

    async def _check_if_full(self) -> bool:
        """Checks the full windows (low latency: settles a finished check first); False when
        that cut the stream. Nothing to do unless a window is full or a check pending."""
        if self.low_latency:
            check_done = self.pending_check is not None and self.pending_check.done()
            if check_done and not await self._settle_pending():
                return False
            if self.windows.full():
                if not await self._settle_pending():
                    return False
                decision, self.pending_check = ended_or_spawned(
                    self._check_windows(self.windows.take()),
                    name=f"window-check-{self.ctx.request_id}")  # a task when it waits
                if decision is not None and decision.blocked:  # decided at once: in-process
                    await self._cut(decision)
                    return False
            return True
        if self.windows.full():
            decision = await self._check_windows(self.windows.take())
            if decision.blocked:
                await self._cut(decision)
                return False
            await self._release_held()
        return True

    async def _check_now(self) -> bool:
        """Checks every text not checked yet, whether or not a window is full; False when
        that cut the stream. Held events are released then: all of their text passed."""
        if not await self._settle_pending():
            return False
        windows = self.windows.take(final=True)
        if windows:
            decision = await self._unhindered(self._check_windows(windows))
            if decision.blocked:
                await self._cut(decision)
                return False
        if self.held:
            await self._release_held()
        return True

    async def _unhindered(self, step: Coroutine[Any, Any, T]) -> T:
        """``await step`` (a check, reading a picture), the relayed events written first if
        it must wait (a model's queue, OCR): they never wait on one. One that finishes in
        its first step (in-process classifiers) delays them by its CPU time only, and they
        go with the next write."""
        ended, outcome = first_step(step)
        if ended:
            result: T = outcome
            return result
        try:
            await self._send()
        except BaseException:
            cancel_suspended(step)
            raise
        return await resumed(step, outcome)

    async def _release_held(self, then: bytes = b"", last: bool = False) -> None:
        """Sends the held events, then ``then`` (in the same write; ``last``: see _send)."""
        self.text_sent |= self.held_text
        self.relayed += len(self.held)
        await self._send(b"".join((*self.held, then)), last=last)
        self.held.clear()
        self.held_text = False

    async def _settle_pending(self) -> bool:
        if self.pending_check is None:
            return True
        if not self.pending_check.done():
            await self._send()  # what was relayed goes out before the wait
        decision = await self.pending_check
        self.pending_check = None
        if decision.blocked:
            await self._cut(decision)
            return False
        return True

    async def _check_windows(self, windows: list[Window]) -> Decision:
        texts = [(w.choice, w.text) for w in windows]
        moderation, _ = await moderate_answer(
            self.ctx.snapshot, texts, self.ctx.classify_context("output"),
            self.ctx.metrics, self.ctx.cache, self.ctx.tenant, window=True)
        self.windows.commit()
        self.window_moderations.append(moderation)
        return moderation.decision

    async def _finish(self) -> None:
        if not await self._settle_pending():
            return
        answers = sorted(self.windows.answers().items())
        moderation, _ = await self._unhindered(moderate_answer(
            self.ctx.snapshot, answers, self.ctx.classify_context("output"),
            self.ctx.metrics, self.ctx.cache, self.ctx.tenant))
        decision = combine(*(m.decision for m in self.window_moderations), moderation.decision)
        self.ctx.moderations["output"] = Moderation(
            "output", decision, moderation.scores, moderation.texts, moderation.run)
        if decision.blocked:
            await self._cut(decision, recorded=True)
            return
        # one write: the answer's end, and the stream's (the chunked encoding's last chunk)
        await self._release_held(then=b"".join(self.tail), last=True)

    async def _cut(self, decision: Decision, recorded: bool = False) -> None:
        self.ctx.stream_cut = True
        mode = "low_latency" if self.low_latency else "buffered"
        self.ctx.metrics.stream_cuts.labels(mode).inc()
        if not recorded:  # the windows' full scores, not only those past a threshold
            answers = sorted(self.windows.answers().items())
            self.ctx.moderations["output"] = Moderation(
                "output", decision, _max_scores(self.window_moderations),
                [t for _, t in answers])
        refusal = None if self.text_sent else self.ctx.snapshot.config.policy.refusal_text
        await self._send(self.codec.cut(sorted(self.open_choices),
                                        safety_object("output", decision), refusal,
                                        relayed=self.relayed))

    async def _broken(self, message: str) -> None:
        self.ctx.error_kind = "upstream_stream_broken"
        log.warning("upstream_stream_broken", request_id=self.ctx.request_id, detail=message)
        with contextlib.suppress(ClientGone):
            await self._send(self.codec.broken(message))

    async def _send(self, data: bytes = b"", last: bool = False) -> None:
        """Writes the outbox's relayed events, then ``data``; ``last``: and ends the
        response in the same write (nothing is written after it: ``end_stream`` finds it
        ended), so a stream's end costs no write, nor a wakeup of the client, of its own."""
        if self.outbox:
            data = b"".join((*self.outbox, data))
            self.outbox.clear()
        if not data:
            return
        try:
            if not self.response.prepared:
                await self.response.prepare(self.request)
            if last:
                await self.response.write_eof(data)
            else:
                await self.response.write(data)
        except (ConnectionError, RuntimeError) as exc:
            raise ClientGone() from exc
        if self.first_byte_at is None:
            self.first_byte_at = time.perf_counter()
            self.ctx.metrics.stream_first_byte.observe(self.ctx.elapsed())


def _holds_picture(texts: list[tuple[int, str]]) -> bool:
    """Whether an event's texts hold a generated image (a loop: no generator per event)."""
    for _, text in texts:  # noqa: SIM110
        if is_inline_image(text):
            return True
    return False


def _side(output: int, rank: int) -> int:
    """The window key of what an output's log-probabilities spell at ``rank``
    (protocol/logprobs.py): below zero, so never an output of its own (nor closed by a
    cut), and read as a text apart from the output's."""
    return -1 - output * 1024 - min(rank, 1023)


def _max_scores(moderations: list[Moderation]) -> dict[str, dict[str, float]]:
    """check -> label -> the highest score over the windows checked."""
    scores: dict[str, dict[str, float]] = {}
    for moderation in moderations:
        for check, labels in moderation.scores.items():
            best = scores.setdefault(check, {})
            for label, score in labels.items():
                best[label] = max(score, best.get(label, score))
    return scores
