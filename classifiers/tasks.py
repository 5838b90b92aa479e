"""The one way to start a background task: ``spawn``; ``owned``, a task its caller holds
and waits for; ``gather_few``, the request path's gather; ``within``, its timeout; and
``first_step`` / ``resumed`` / ``cancel_suspended``, a coroutine run in its caller up to
its first wait, then on (or cancelled there).

The event loop keeps only a weak reference to a task, so a task nobody holds may be
garbage-collected before it finishes; and an exception in a task nobody awaits is reported,
if ever, only when the task is collected. ``spawn`` answers both, for the proxy and the
classifiers alike (a lint rule bans bare ``asyncio.create_task`` / ``ensure_future``
elsewhere).

Contract:

- the task has the ``name`` given (asyncio's debug output, logs, tracebacks name it);
- a strong reference is kept until the task is done, whether or not the caller keeps one;
- a task that ends with an exception (not a cancellation) is logged once, on the
  ``safety_proxy.tasks`` logger at error level, by the exception's type and the task's name
  only: never the message, which may quote a user's text. The exception stays on the task
  for whoever awaits it;
- a caller that must stop its tasks (at shutdown) keeps the returned task and cancels or
  awaits it as before.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import types
from collections.abc import Coroutine, Generator
from typing import Any, TypeVar

T = TypeVar("T")

log = logging.getLogger("safety_proxy.tasks")

_RUNNING: set[asyncio.Task[Any]] = set()


def spawn(coro: Coroutine[Any, Any, T], *, name: str,
          context: contextvars.Context | None = None) -> asyncio.Task[T]:
    """Starts ``coro`` as a task on the running loop (in ``context``, when given), kept
    alive until it is done."""
    task = asyncio.create_task(coro, name=name, context=context)
    _RUNNING.add(task)
    task.add_done_callback(_finished)
    return task


def _finished(task: asyncio.Task[Any]) -> None:
    _RUNNING.discard(task)
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        # In the message itself, not as arguments: the proxy's log renderer keeps a library
        # record's format string only (proxy/observability/logging.py).
        log.error(f"background task {task.get_name()} failed: {type(exc).__qualname__}")


def ended_or_spawned(coro: Coroutine[Any, Any, T], *, name: str
                     ) -> tuple[T | None, asyncio.Task[T] | None]:
    """Runs ``coro`` up to its first wait in a copy of the caller's context, as a task
    would: (its result, None) when it ended there (an in-process check: no task, no loop
    turn), else (None, a task, ``spawn``, that goes on with it in that context). An
    exception it raises in that first step propagates."""
    context = contextvars.copy_context()
    ended, outcome = context.run(first_step, coro)
    if ended:
        return outcome, None
    return None, spawn(resumed(coro, outcome), name=name, context=context)


def owned(coro: Coroutine[Any, Any, T], *, name: str) -> asyncio.Task[T]:
    """Starts ``coro`` as a task its caller owns: the caller holds it until it is done and
    awaits it, or cancels it and reads its outcome (routes/generation.py's request sent
    during its checks). Nothing is logged for it: its exception is the caller's."""
    return asyncio.create_task(coro, name=name)


async def gather_few(*coros: Coroutine[Any, Any, T]) -> list[T]:
    """``asyncio.gather`` for the request path, without a task for what never waits. Each
    coroutine runs as if in a task of its own (in its own copy of the caller's context),
    but in the caller's task up to its first wait, one after the other: one that ends there
    (an in-process check, a memory-store read) costs no task and no loop turn. Those that
    wait go on concurrently: the first in the caller's task, each other in a task of its
    own. Results in order. An exception from any cancels the others still running and
    propagates; cancelling the caller cancels them all."""
    results: list[Any] = [None] * len(coros)
    waiting: list[tuple[int, Coroutine[Any, Any, T], Any, contextvars.Context]] = []
    for index, coro in enumerate(coros):
        context = contextvars.copy_context()
        try:
            ended, outcome = context.run(first_step, coro)
        except BaseException:
            for later in coros[index + 1:]:
                later.close()  # never started: nothing of it ran
            for _, suspended, _, its_context in waiting:
                cancel_suspended(suspended, its_context)
            raise
        if ended:
            results[index] = outcome
        else:
            waiting.append((index, coro, outcome, context))
    if not waiting:
        return results
    (head, coro, waiting_on, context), *rest = waiting
    others = [asyncio.create_task(resumed(other, on), context=its_context)  # steps in it
              for _, other, on, its_context in rest]
    try:
        results[head] = await resumed(coro, waiting_on, context)
        for (index, *_), task in zip(rest, others, strict=True):
            results[index] = await task
    except BaseException:
        for task in others:
            task.cancel()
        raise
    return results


def cancel_suspended(coro: Coroutine[Any, Any, Any],
                     context: contextvars.Context | None = None) -> None:
    """Cancels ``coro``, suspended after ``first_step`` (in ``context``, if it ran in one):
    the cancellation thrown in where it waits, as a task's would be; one that waits again
    while it unwinds (an ``await`` in its cleanup) finishes in a task."""
    try:
        waiting_on = (_throw(coro, asyncio.CancelledError()) if context is None
                      else context.run(_throw, coro, asyncio.CancelledError()))
    except BaseException:  # it ended: the cancellation, or what it raised instead
        return
    spawn(resumed(coro, waiting_on, context), name="cancelled-unwinding")


async def within(coro: Coroutine[Any, Any, T], timeout_s: float) -> T:
    """``coro``'s result, or TimeoutError once ``timeout_s`` has passed since the call: as
    ``async with asyncio.timeout(timeout_s): return await coro``, in the caller's task, but
    with the timer armed only when ``coro`` suspends. A coroutine that ends in its first
    step (an in-process classifier) costs no timer, and a timeout could not have cut it
    anyway: it only ever interrupts a suspension. One that suspends is cut at the same
    deadline, counted from the call, its cancellation delivered as asyncio.timeout's."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    ended, outcome = first_step(coro)
    if ended:
        result: T = outcome
        return result
    async with asyncio.timeout_at(deadline):
        return await resumed(coro, outcome)


def first_step(coro: Coroutine[Any, Any, Any]) -> tuple[bool, Any]:
    """Runs ``coro`` in the caller up to its first suspension: (True, its result) when it
    ended without one, else (False, what it waits on), to be passed to ``resumed`` (or the
    coroutine closed). Its exception, if it raised in that step, propagates."""
    try:
        return False, coro.send(None)
    except StopIteration as finished:
        return True, finished.value


@types.coroutine
def resumed(coro: Coroutine[Any, Any, T], waiting_on: Any,
            context: contextvars.Context | None = None) -> Generator[Any, Any, T]:
    """``await resumed(coro, waiting_on)``: drives ``coro``, suspended on ``waiting_on``
    (``first_step``), to its end as its task would: what it waits on goes to the task, what
    the task sends or throws in (a cancellation) goes to it, each step in ``context`` when
    given (the one its first step ran in). ``yield from`` cannot: it would resume ``coro``
    before what it waits on is done."""
    def send(value: Any) -> Any:
        return coro.send(value) if context is None else context.run(coro.send, value)

    def throw(exc: BaseException) -> Any:
        return coro.throw(exc) if context is None else context.run(_throw, coro, exc)

    while True:
        try:
            sent = yield waiting_on
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:  # every throw goes on into it, as with yield from
            try:
                waiting_on = throw(exc)
            except StopIteration as finished:
                result: T = finished.value
                return result
            continue
        try:
            waiting_on = send(sent)
        except StopIteration as finished:
            result = finished.value
            return result


def _throw(coro: Coroutine[Any, Any, Any], exc: BaseException) -> Any:
    return coro.throw(exc)
