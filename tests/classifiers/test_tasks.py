"""spawn: a background task lives until it is done, and a failure is logged by its type."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import logging
import time
import warnings
import weakref

import pytest

from classifiers.tasks import (
    cancel_suspended,
    ended_or_spawned,
    first_step,
    gather_few,
    spawn,
    within,
)


def _collect() -> None:
    """gc.collect(), without other tests' leftovers speaking up: a transport another test
    left unclosed warns when collected, and that warning is not this test's."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


_CURRENT: contextvars.ContextVar[str] = contextvars.ContextVar("current", default="none")


async def _waits_forever() -> None:
    await asyncio.get_running_loop().create_future()  # a future nothing else holds


async def test_a_task_nobody_holds_lives_until_it_is_done() -> None:
    # The loop holds tasks weakly: a bare create_task here is collected at gc.collect().
    task = weakref.ref(spawn(_waits_forever(), name="unheld"))
    await asyncio.sleep(0)
    _collect()
    alive = task()
    assert alive is not None and not alive.done()
    alive.cancel()
    del alive
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    _collect()
    assert task() is None  # done: the reference is dropped


async def test_the_task_has_its_name_and_result() -> None:
    async def answer() -> int:
        return 42

    task = spawn(answer(), name="the-answer")
    assert task.get_name() == "the-answer"
    assert await task == 42


async def test_a_failure_is_logged_by_type_and_name_never_its_message(
        caplog: pytest.LogCaptureFixture) -> None:
    async def fail() -> None:
        raise ValueError("a user's secret text")

    with caplog.at_level(logging.ERROR, logger="safety_proxy.tasks"):
        task = spawn(fail(), name="doomed")
        with pytest.raises(ValueError):
            await task  # the exception stays on the task for whoever awaits it
        await asyncio.sleep(0)  # the done-callback runs
    messages = [record.getMessage() for record in caplog.records
                if record.name == "safety_proxy.tasks"]
    assert messages == ["background task doomed failed: ValueError"]
    assert "secret" not in caplog.text


async def test_a_cancellation_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="safety_proxy.tasks"):
        task = spawn(asyncio.sleep(60), name="cancelled")
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0)
    assert not [record for record in caplog.records if record.name == "safety_proxy.tasks"]


async def test_gather_few_runs_one_awaitable_in_the_callers_task() -> None:
    async def whose() -> asyncio.Task[object] | None:
        return asyncio.current_task()

    assert await gather_few(whose()) == [asyncio.current_task()]


async def test_gather_few_runs_several_concurrently_results_in_order() -> None:
    """Each in the caller's task up to its first wait; then the first that waits goes on
    in the caller's task, each other one in a task of its own."""
    all_started = asyncio.Barrier(3)  # only met when the three run at the same time

    async def meet(value: int) -> tuple[int, asyncio.Task[object] | None]:
        await asyncio.wait_for(all_started.wait(), 5)
        return value, asyncio.current_task()

    results = await gather_few(meet(1), meet(2), meet(3))
    assert [value for value, _ in results] == [1, 2, 3]
    tasks = [task for _, task in results]
    assert tasks[0] is asyncio.current_task() and len(set(tasks)) == 3


async def test_gather_few_makes_no_task_for_what_ends_without_waiting() -> None:
    async def whose(value: int) -> tuple[int, asyncio.Task[object] | None]:
        return value, asyncio.current_task()

    before = len(asyncio.all_tasks())
    results = await gather_few(whose(1), whose(2), asyncio.sleep(0, 3), whose(4))
    assert [r if isinstance(r, int) else r[0] for r in results] == [1, 2, 3, 4]
    assert {r[1] for r in results if not isinstance(r, int)} == {asyncio.current_task()}
    assert len(asyncio.all_tasks()) == before


async def test_gather_few_runs_each_in_a_context_of_its_own() -> None:
    """As in tasks: what one sets (a tracing span made current) is seen neither by the
    caller nor by the others, before or after a wait."""
    seen: dict[str, list[str]] = {}

    async def sets(name: str, pause: bool) -> str:
        seen[name] = [_CURRENT.get()]
        _CURRENT.set(name)
        if pause:
            await asyncio.sleep(0)
        seen[name].append(_CURRENT.get())
        return name

    _CURRENT.set("caller")
    assert await gather_few(sets("a", True), sets("b", False), sets("c", True)) == ["a", "b",
                                                                                     "c"]
    assert seen == {"a": ["caller", "a"], "b": ["caller", "b"], "c": ["caller", "c"]}
    assert _CURRENT.get() == "caller"


async def test_gather_few_cancels_the_others_when_one_fails_or_the_caller_goes() -> None:
    cancelled: list[str] = []

    async def wait_forever(name: str) -> None:
        try:
            await _waits_forever()
        except asyncio.CancelledError:
            cancelled.append(name)
            raise

    async def fail_soon() -> None:
        await asyncio.sleep(0.01)
        raise LookupError("x")

    async def fail_at_once() -> None:
        raise LookupError("x")

    with pytest.raises(LookupError):
        await gather_few(fail_soon(), wait_forever("a"), wait_forever("b"))
    await asyncio.sleep(0)
    assert sorted(cancelled) == ["a", "b"]

    cancelled.clear()
    never = wait_forever("never started")
    with pytest.raises(LookupError):  # in its first step: the one waiting is cancelled
        await gather_few(wait_forever("a"), fail_at_once(), never)
    assert cancelled == ["a"]
    assert never.cr_frame is None, "the one after it was closed, never started"

    cancelled.clear()
    caller = asyncio.ensure_future(gather_few(wait_forever("a"), wait_forever("b")))
    await asyncio.sleep(0.01)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    await asyncio.sleep(0)
    assert sorted(cancelled) == ["a", "b"]


async def test_gather_few_raises_what_an_awaitable_raises() -> None:
    async def fail() -> None:
        raise LookupError("x")

    with pytest.raises(LookupError):
        await gather_few(fail())
    with pytest.raises(LookupError):
        await gather_few(asyncio.sleep(0), fail())


async def _answers(value: str, *, pause_s: float | None = None, busy_s: float = 0.0,
                   ended: list[str] | None = None) -> str:
    """``value``, after ``busy_s`` seconds in its first step and a suspension of
    ``pause_s`` (none when None); its end, however it ends, noted in ``ended``."""
    try:
        time.sleep(busy_s)  # the classifier's own CPU, no suspension
        if pause_s is not None:
            await asyncio.sleep(pause_s)
        if value == "fail":
            raise ValueError("scoring failed")
        return value
    finally:
        if ended is not None:
            ended.append(value)


async def test_within_returns_a_coroutine_that_ends_in_its_first_step_without_a_timer() -> None:
    loop = asyncio.get_running_loop()
    armed = []
    real_call_at = loop.call_at
    loop.call_at = lambda *args, **kwargs: armed.append(args) or real_call_at(  # type: ignore
        *args, **kwargs)
    try:
        assert await within(_answers("scores"), 0.5) == "scores"
        with pytest.raises(ValueError, match="scoring failed"):
            await within(_answers("fail"), 0.5)
        assert armed == [], "no timer for a coroutine that never suspended"
        assert await within(_answers("later", pause_s=0.0), 0.5) == "later"
        assert len(armed) == 1, "a suspension arms the deadline"
    finally:
        del loop.call_at


async def test_within_cuts_a_coroutine_at_its_deadline_counted_from_the_call() -> None:
    ended: list[str] = []
    with pytest.raises(TimeoutError):
        await within(_answers("slow", pause_s=5.0, ended=ended), 0.05)
    assert ended == ["slow"], "it was cancelled and ran its finally"
    with pytest.raises(TimeoutError):  # 60 ms in its first step, then any suspension
        await within(_answers("busy", pause_s=0.0, busy_s=0.06), 0.03)
    assert await within(_answers("quick", pause_s=0.01), 1.0) == "quick"
    with pytest.raises(ValueError, match="scoring failed"):  # after a suspension too
        await within(_answers("fail", pause_s=0.0), 1.0)


async def test_within_passes_a_cancellation_of_its_caller_on_as_a_cancellation() -> None:
    ended: list[str] = []
    waiting = asyncio.ensure_future(within(_answers("left", pause_s=5.0, ended=ended), 10.0))
    await asyncio.sleep(0.01)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert ended == ["left"]


async def test_a_suspended_coroutine_is_cancelled_where_it_waits_and_may_unwind() -> None:
    cleaned: list[str] = []

    async def waits(name: str, unwinding_waits: bool) -> None:
        try:
            await _waits_forever()
        except asyncio.CancelledError:
            if unwinding_waits:
                await asyncio.sleep(0)  # cleanup that waits: finished in a task
            cleaned.append(name)
            raise

    quick, slow = waits("quick", False), waits("slow", True)
    for coro in (quick, slow):
        ended, _ = first_step(coro)
        assert not ended
        cancel_suspended(coro)
    assert cleaned == ["quick"]
    await asyncio.sleep(0.01)
    assert cleaned == ["quick", "slow"]
    assert quick.cr_frame is None and slow.cr_frame is None, "both ended"


async def test_ended_or_spawned_makes_a_task_only_for_what_waits() -> None:
    """What ends in its first step gives its result at once, with no task; what waits goes
    on as a task; each in its own copy of the caller's context, before and after a wait."""
    async def sets(name: str, pause: bool) -> tuple[str, str, asyncio.Task[object] | None]:
        _CURRENT.set(name)
        if pause:
            await asyncio.sleep(0)
        return name, _CURRENT.get(), asyncio.current_task()

    _CURRENT.set("caller")
    before = len(asyncio.all_tasks())
    result, task = ended_or_spawned(sets("now", False), name="now")
    assert task is None and result == ("now", "now", asyncio.current_task())
    assert len(asyncio.all_tasks()) == before and _CURRENT.get() == "caller"
    result, task = ended_or_spawned(sets("later", True), name="later")
    assert result is None and task is not None and task.get_name() == "later"
    assert _CURRENT.get() == "caller", "its first step set the variable in its own context"
    assert await task == ("later", "later", task)
    with pytest.raises(ZeroDivisionError):
        ended_or_spawned(_divides(), name="fails")


async def _divides() -> float:
    return 1 / 0
