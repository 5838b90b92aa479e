"""spawn: a background task lives until it is done, and a failure is logged by its type."""

from __future__ import annotations

import asyncio
import gc
import logging
import warnings
import weakref

import pytest

from classifiers.tasks import gather_few, spawn


def _collect() -> None:
    """gc.collect(), without other tests' leftovers speaking up: a transport another test
    left unclosed warns when collected, and that warning is not this test's."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


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
    """The first in the caller's task, each other one in a task of its own."""
    all_started = asyncio.Barrier(3)  # only met when the three run at the same time

    async def meet(value: int) -> tuple[int, asyncio.Task[object] | None]:
        await asyncio.wait_for(all_started.wait(), 5)
        return value, asyncio.current_task()

    results = await gather_few(meet(1), meet(2), meet(3))
    assert [value for value, _ in results] == [1, 2, 3]
    tasks = [task for _, task in results]
    assert tasks[0] is asyncio.current_task() and len(set(tasks)) == 3


async def test_gather_few_cancels_the_others_when_the_first_fails_or_the_caller_goes() -> None:
    started: list[asyncio.Task[object] | None] = []

    async def wait_forever() -> None:
        started.append(asyncio.current_task())
        await _waits_forever()

    async def fail_soon() -> None:
        await asyncio.sleep(0.01)
        raise LookupError("x")

    with pytest.raises(LookupError):
        await gather_few(fail_soon(), wait_forever(), wait_forever())
    await asyncio.sleep(0)
    assert len(started) == 2 and all(task is not None and task.cancelled() for task in started)

    started.clear()
    caller = asyncio.ensure_future(gather_few(wait_forever(), wait_forever()))
    await asyncio.sleep(0.01)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    await asyncio.sleep(0)
    assert len(started) == 2 and started[0] is caller
    assert started[1] is not None and started[1].cancelled()


async def test_gather_few_raises_what_an_awaitable_raises() -> None:
    async def fail() -> None:
        raise LookupError("x")

    with pytest.raises(LookupError):
        await gather_few(fail())
    with pytest.raises(LookupError):
        await gather_few(asyncio.sleep(0), fail())
