"""Inference in worker processes (``workers: N``): the model off the proxy's GIL.

In-process, the event loop shares one interpreter lock with the tokenizer and the model's
Python glue, so a busy model slows every request the proxy relays. With ``workers: N`` each
of N child processes (worker.py) loads the model and serves it with the usual two-thread
batcher; the proxy keeps only sockets. Contract (the same as TokenBatcher's):
``await pool.submit(texts)`` returns one score vector per text (the model's output columns,
in order). A call goes to the worker with the fewest texts outstanding.

Failure modes, all ClassifierError so the check's ``on_error`` applies: ``max_queue`` texts
outstanding across the workers (Overloaded, at once); no answer within
``request_timeout_s``; a worker that exits fails its outstanding calls at once and is
started again in the background (1 s, then doubling up to 30 s between tries) while the
others serve; with none running, calls fail at once. A worker that cannot load the model
at start makes ``start`` raise ClassifierConfigError with the worker's own message.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from classifiers.base import ClassifierConfigError, ClassifierError, Overloaded
from classifiers.sequence.activation import Activation
from classifiers.sequence.frames import frame, read_frame
from classifiers.tasks import spawn

Vector = list[float]
STOP_GRACE_S = 5.0
MAX_RESTART_DELAY_S = 30.0


@dataclass(frozen=True, slots=True)
class WorkerOutputs:
    """What a worker's model produces (a ModelOutputs for the family's ``adopt``)."""

    class_names: tuple[str, ...]
    fingerprint: str
    activation: Activation | None


@dataclass(eq=False)
class _Worker:
    index: int
    process: asyncio.subprocess.Process
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    pending: dict[int, tuple[asyncio.Future[list[Vector]], int]] = field(default_factory=dict)
    texts: int = 0  # in pending calls
    alive: bool = True
    listener: asyncio.Task[None] | None = None


class WorkerPool:
    def __init__(self, type_name: str, name: str, options: dict[str, Any], *, count: int,
                 max_queue: int, request_timeout_s: float, start_timeout_s: float = 600.0,
                 on_batch: Callable[[int], None] | None = None) -> None:
        """``options``: the check's options as JSON values (each worker parses them);
        ``on_batch``: called with the rows of each forward pass a worker reports."""
        self._on_batch = on_batch
        self._setup = {"type": type_name, "name": name, "options": options}
        self._name, self._count, self._max_queue = name, count, max_queue
        self._timeout, self._start_timeout = request_timeout_s, start_timeout_s
        self._workers: list[_Worker | None] = [None] * count
        self._ids = itertools.count()
        self._closing = False
        self._restarts: set[asyncio.Task[None]] = set()

    async def start(self) -> WorkerOutputs:
        """Starts every worker (in parallel); all must load the same model."""
        launched = await asyncio.gather(*(self._launch(i) for i in range(self._count)),
                                        return_exceptions=True)
        failed = [r for r in launched if isinstance(r, BaseException)]
        for result in launched:
            if not isinstance(result, BaseException):
                self._adopt_worker(result[0])
        if failed:
            await self.close()
            raise failed[0]
        outputs = {result[1] for result in launched if not isinstance(result, BaseException)}
        if len(outputs) != 1:
            await self.close()
            raise ClassifierConfigError(f"{self._name}: the inference workers loaded "
                                        "different models")
        return outputs.pop()

    @property
    def pids(self) -> list[int]:
        """The running workers' process ids."""
        return [w.process.pid for w in self._workers if w is not None and w.alive]

    def outstanding(self) -> list[int]:
        """Texts waiting on each running worker."""
        return [w.texts for w in self._workers if w is not None and w.alive]

    async def submit(self, texts: Sequence[str]) -> list[Vector]:
        if not texts:
            return []
        live = [w for w in self._workers if w is not None and w.alive]
        if not live:
            raise ClassifierError(f"{self._name}: no inference worker is running (restarting)")
        outstanding = sum(w.texts for w in live)
        if outstanding + len(texts) > self._max_queue:
            raise Overloaded(f"{self._name}: queue full ({outstanding} texts waiting, "
                             f"max_queue {self._max_queue})")
        worker = min(live, key=lambda w: w.texts)
        call = next(self._ids)
        future: asyncio.Future[list[Vector]] = asyncio.get_running_loop().create_future()
        worker.pending[call] = (future, len(texts))
        worker.texts += len(texts)
        try:
            worker.writer.write(frame({"id": call, "texts": list(texts)}))
            return await asyncio.wait_for(future, self._timeout)
        except TimeoutError:
            raise ClassifierError(f"{self._name}: no scores within {self._timeout:g}s "
                                  "(model overloaded or hung)") from None
        finally:
            if worker.pending.pop(call, None) is not None:
                worker.texts -= len(texts)

    async def close(self) -> None:
        """Stops every worker: the socket closes, the worker exits (killed after a grace)."""
        self._closing = True
        for task in list(self._restarts):
            task.cancel()
        workers = [w for w in self._workers if w is not None]
        self._workers = [None] * self._count
        await asyncio.gather(*(self._stop(w) for w in workers))

    # ---- one worker ------------------------------------------------------------------------

    async def _launch(self, index: int) -> tuple[_Worker, WorkerOutputs]:
        ours, theirs = socket.socketpair()
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "classifiers.sequence.worker", str(theirs.fileno()),
                pass_fds=(theirs.fileno(),), stdin=asyncio.subprocess.DEVNULL,
                start_new_session=True)  # a terminal's Ctrl-C reaches the proxy only
        finally:
            theirs.close()
        reader, writer = await asyncio.open_connection(sock=ours)
        worker = _Worker(index, process, reader, writer)
        writer.write(frame(self._setup))
        try:
            answer = await asyncio.wait_for(read_frame(reader), self._start_timeout)
        except BaseException:
            await self._stop(worker)
            raise
        if answer is None or "error" in answer:
            await self._stop(worker)
            raise ClassifierConfigError(
                answer["error"] if answer else
                f"{self._name}: inference worker {index} exited while loading "
                f"(code {process.returncode})")
        outputs = WorkerOutputs(tuple(answer["class_names"]), answer["fingerprint"],
                                answer["activation"])
        return worker, outputs

    def _adopt_worker(self, worker: _Worker) -> None:
        self._workers[worker.index] = worker
        worker.listener = spawn(self._listen(worker), name=f"worker-{self._name}-{worker.index}")

    async def _listen(self, worker: _Worker) -> None:
        while (message := await read_frame(worker.reader)) is not None:
            if self._on_batch is not None:
                for rows in message.get("batches", ()):
                    self._on_batch(rows)
            entry = worker.pending.pop(message["id"], None)
            if entry is None:
                continue  # its caller gave up
            future, count = entry
            worker.texts -= count
            if future.done():
                continue
            if "error" in message:
                kind = Overloaded if message.get("overloaded") else ClassifierError
                future.set_exception(kind(message["error"]))
            else:
                future.set_result(message["vectors"])
        worker.alive = False
        code = await worker.process.wait()
        self._fail_pending(worker, f"inference worker {worker.index} exited (code {code})")
        worker.writer.close()
        if not self._closing:
            task = spawn(self._replace(worker.index), name=f"restart-{self._name}")
            self._restarts.add(task)
            task.add_done_callback(self._restarts.discard)

    async def _replace(self, index: int) -> None:
        delay = 1.0
        while not self._closing:
            await asyncio.sleep(delay)
            try:
                worker, _ = await self._launch(index)
            except ClassifierError:
                delay = min(2 * delay, MAX_RESTART_DELAY_S)
                continue
            if self._closing:
                await self._stop(worker)
                return
            self._adopt_worker(worker)
            return

    async def _stop(self, worker: _Worker) -> None:
        worker.alive = False
        worker.writer.close()
        try:
            await asyncio.wait_for(worker.process.wait(), STOP_GRACE_S)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                worker.process.kill()
            await worker.process.wait()
        if worker.listener is not None:
            worker.listener.cancel()
            await asyncio.gather(worker.listener, return_exceptions=True)
        self._fail_pending(worker, "classifier closed")

    def _fail_pending(self, worker: _Worker, why: str) -> None:
        for future, _ in worker.pending.values():
            if not future.done():
                future.set_exception(ClassifierError(f"{self._name}: {why}"))
        worker.pending.clear()
        worker.texts = 0
