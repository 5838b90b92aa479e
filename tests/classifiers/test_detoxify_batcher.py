"""The Detoxify batcher with a scripted model standing in for the network (no torch).

The scripted model tokenizes words (``idiot`` is token 666, any other word token 1) and
scores a window [1.0 if it holds 666 else 0.0, its length / 100]; it records every
tokenizer call and every batch, either can be held (a hung model), and either can be made
to raise on ``boom``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from classifiers.base import ClassifierError
from classifiers.sequence.batcher import PIPELINE_CHUNK, TokenBatcher
from classifiers.sequence.scheduling import BatchBounds
from classifiers.sequence.windows import WindowPlan

INSULT, BOOM = 666, 13
TOKENS = {"idiot": INSULT, "boom": BOOM}


class ScriptedModel:
    def __init__(self, window: int = 8) -> None:
        self.plan = WindowPlan(size=window, overlap=2, max_tokens=4096, max_windows=512,
                               prefix=(101,), suffix=(102,))
        self.batches: list[list[int]] = []  # row lengths of each forward pass
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.fail_on_boom = False
        self.tokenized: list[list[str]] = []  # the texts of each tokenizer call
        self.tokenizer_gate = threading.Event()
        self.tokenizer_gate.set()
        self.tokenizer_entered = threading.Event()
        self.tokenizer_fails_on_boom = False
        self.slow_gate = threading.Event()  # holds the tokenizer on texts with "slow"
        self.slow_gate.set()
        self.slow_entered = threading.Event()

    def windows(self, texts: list[str]) -> list[list[list[int]]]:
        self.tokenizer_entered.set()
        self.tokenizer_gate.wait()
        if any("slow" in text for text in texts):
            self.slow_entered.set()
            self.slow_gate.wait()
        self.tokenized.append(list(texts))
        if self.tokenizer_fails_on_boom and any("boom" in text for text in texts):
            raise ValueError("scripted tokenizer failure")
        return [self.plan.split([TOKENS.get(word, 1) for word in text.split()]) for text in texts]

    def score(self, rows: list[list[int]]) -> list[list[float]]:
        self.entered.set()
        self.gate.wait()
        if self.fail_on_boom and any(BOOM in row for row in rows):
            raise RuntimeError("scripted model failure")
        self.batches.append([len(row) for row in rows])
        return [[1.0 if INSULT in row else 0.0, len(row) / 100] for row in rows]


def make(model: ScriptedModel, **options) -> TokenBatcher:
    settings = {"max_wait_ms": 20.0, "max_queue": 64, "request_timeout_s": 5.0,
                "stall_after_s": 5.0, **options}
    bounds = settings.pop("bounds", BatchBounds(max_rows=16, max_tokens=512, overdue_s=5.0))
    batcher = TokenBatcher(model, name="tox", bounds=bounds, **settings)
    batcher.start()
    return batcher


@pytest.fixture
async def model_and_batcher():
    model = ScriptedModel()
    batcher = make(model)
    yield model, batcher
    model.gate.set()
    await batcher.close()


async def test_an_insult_after_600_polite_tokens_is_caught_by_a_window(model_and_batcher):
    model, batcher = model_and_batcher
    late = " ".join(["please"] * 600 + ["idiot"] + ["thanks"] * 3)
    [polite_scores, late_scores] = await batcher.submit([" ".join(["please"] * 600), late])
    assert polite_scores[0] == 0.0
    assert late_scores[0] == 1.0
    assert sum(len(batch) for batch in model.batches) > 100  # scored as many windows


async def test_concurrent_calls_share_forward_passes_and_get_their_own_scores(model_and_batcher):
    model, batcher = model_and_batcher
    texts = [" ".join(["word"] * n) + (" idiot" if n % 2 else "") for n in range(1, 6)]
    together = await asyncio.gather(*(batcher.submit([text]) for text in texts))
    assert len(model.batches) == 1  # gathered within max_wait
    alone = [await batcher.submit([text]) for text in texts]
    assert together == alone
    assert [scores[0][0] for scores in together] == [1.0, 0.0, 1.0, 0.0, 1.0]


async def test_a_batch_is_bounded_by_padded_tokens_and_sorted_by_length():
    model = ScriptedModel(window=64)
    batcher = make(model, bounds=BatchBounds(max_rows=100, max_tokens=64, overdue_s=5.0))
    try:
        texts = [" ".join(["w"] * n) for n in (30, 2, 30, 2, 2)]
        await asyncio.gather(*(batcher.submit([text]) for text in texts))
        assert model.batches[0] == [4, 4, 4]  # the short ones first, 3 x 4 tokens
        assert all(len(b) * max(b) <= 64 for b in model.batches)  # 32-token rows: 2 a batch
    finally:
        await batcher.close()


async def test_a_short_text_overtakes_queued_long_ones(model_and_batcher):
    model, batcher = model_and_batcher
    model.gate.clear()
    first = asyncio.create_task(batcher.submit(["w w w"]))
    await asyncio.to_thread(model.entered.wait, 2)  # the model is busy with the first batch
    long_texts = [asyncio.create_task(batcher.submit([" ".join(["w"] * 40)])) for _ in range(6)]
    await asyncio.sleep(0.02)
    short = asyncio.create_task(batcher.submit(["hi"]))
    await asyncio.sleep(0.02)
    model.gate.set()
    await asyncio.gather(first, short, *long_texts)
    assert model.batches[1][0] == 3  # right after the running batch: the short text


async def test_a_full_queue_raises_classifier_error_at_once():
    model = ScriptedModel()
    batcher = make(model, max_queue=3)
    model.gate.clear()
    try:
        waiting = asyncio.create_task(batcher.submit(["a", "b", "c"]))
        await asyncio.sleep(0.01)
        started = time.monotonic()
        with pytest.raises(ClassifierError, match="queue full"):
            await batcher.submit(["d"])
        assert time.monotonic() - started < 0.5
        model.gate.set()
        assert len(await waiting) == 3  # the queued request is unaffected
        assert len(await batcher.submit(["d"])) == 1  # and the queue drains
    finally:
        model.gate.set()
        await batcher.close()


async def test_a_hung_model_times_out_then_fails_fast_as_stalled():
    model = ScriptedModel()
    batcher = make(model, request_timeout_s=0.3, stall_after_s=0.2)
    model.gate.clear()
    try:
        with pytest.raises(ClassifierError, match=r"no scores within 0\.3s"):
            await batcher.submit(["hello"])
        started = time.monotonic()
        with pytest.raises(ClassifierError, match="stalled"):
            await batcher.submit(["hello again"])
        assert time.monotonic() - started < 0.1
        model.gate.set()
        await asyncio.sleep(0.05)
        assert await batcher.submit(["recovered idiot"]) == [[1.0, 0.04]]
    finally:
        model.gate.set()
        await batcher.close()


async def model_busy(model: ScriptedModel, batcher: Any) -> asyncio.Task[Any]:
    """Holds the scripted model inside a pass over "warm"; returns that request's task."""
    model.gate.clear()
    running = asyncio.create_task(batcher.submit(["warm"]))
    await asyncio.to_thread(model.entered.wait, 2)
    return running


async def tokenized(model: ScriptedModel, texts: list[str]) -> None:
    """Waits (2 s at most) until the scripted tokenizer has been called with ``texts``."""
    deadline = time.monotonic() + 2
    while texts not in model.tokenized and time.monotonic() < deadline:
        await asyncio.sleep(0.005)


async def test_a_cancelled_caller_does_not_poison_the_batch(model_and_batcher):
    model, batcher = model_and_batcher
    running = await model_busy(model, batcher)  # the model holds "warm"
    texts = ["one idiot", "two words here", "three"]
    tasks = [asyncio.create_task(batcher.submit([text])) for text in texts]
    await asyncio.sleep(0.02)
    tasks[1].cancel()
    await asyncio.sleep(0.02)  # the loop marks the request cancelled (its windows are pooled)
    model.gate.set()
    await running
    assert (await tasks[0])[0][0] == 1.0
    assert (await tasks[2])[0] == [0.0, 0.03]
    assert tasks[1].cancelled()
    assert [3, 4] in model.batches and all(5 not in b for b in model.batches[1:])
    assert await batcher.submit(["after"]) == [[0.0, 0.03]]


async def test_a_model_error_fails_only_its_own_batch(model_and_batcher):
    model, batcher = model_and_batcher
    model.fail_on_boom = True
    with pytest.raises(ClassifierError, match="scripted model failure"):
        await batcher.submit(["boom boom"])
    assert await batcher.submit(["fine idiot"]) == [[1.0, 0.04]]


async def test_close_fails_waiting_callers_and_refuses_new_ones():
    model = ScriptedModel()
    batcher = make(model)
    model.gate.clear()
    waiting = asyncio.create_task(batcher.submit(["stuck"]))
    await asyncio.to_thread(model.entered.wait, 2)
    model.gate.set()
    await batcher.close()
    with pytest.raises(ClassifierError):
        await waiting
    with pytest.raises(ClassifierError, match="not running"):
        await batcher.submit(["late"])


async def test_no_texts_needs_no_model(model_and_batcher):
    model, batcher = model_and_batcher
    assert await batcher.submit([]) == []
    assert model.batches == []


async def test_requests_that_arrive_together_are_tokenized_in_one_call(model_and_batcher):
    model, batcher = model_and_batcher
    model.tokenizer_gate.clear()
    first = asyncio.create_task(batcher.submit(["first"]))
    await asyncio.to_thread(model.tokenizer_entered.wait, 2)  # the tokenizer holds "first"
    texts = ["one idiot", "two words", "three"]
    waiting = [asyncio.create_task(batcher.submit([text])) for text in texts]
    await asyncio.sleep(0.02)
    model.tokenizer_gate.set()
    assert await first == [[0.0, 0.03]]
    assert [(await task)[0][0] for task in waiting] == [1.0, 0.0, 0.0]
    assert model.tokenized == [["first"], texts]


async def test_requests_of_several_texts_that_arrive_together_share_one_call(model_and_batcher):
    model, batcher = model_and_batcher
    model.tokenizer_gate.clear()
    first = asyncio.create_task(batcher.submit(["first"]))
    await asyncio.to_thread(model.tokenizer_entered.wait, 2)
    calls = [["a b", "c idiot", "d"], ["e", "f g"]]
    waiting = [asyncio.create_task(batcher.submit(texts)) for texts in calls]
    await asyncio.sleep(0.02)
    model.tokenizer_gate.set()
    await first
    assert [[s[0] for s in await task] for task in waiting] == [[0.0, 1.0, 0.0], [0.0, 0.0]]
    assert model.tokenized == [["first"], calls[0] + calls[1]]


async def test_the_next_texts_are_tokenized_while_the_model_runs(model_and_batcher):
    model, batcher = model_and_batcher
    running = await model_busy(model, batcher)  # the model holds "warm"
    queued = asyncio.create_task(batcher.submit(["queued idiot"]))
    await tokenized(model, ["queued idiot"])
    assert ["queued idiot"] in model.tokenized and not queued.done()
    model.gate.set()
    assert await running == [[0.0, 0.03]]
    assert await queued == [[1.0, 0.04]]


async def test_a_text_the_tokenizer_rejects_fails_only_its_own_request(model_and_batcher):
    model, batcher = model_and_batcher
    model.tokenizer_fails_on_boom = True
    model.tokenizer_gate.clear()
    first = asyncio.create_task(batcher.submit(["first"]))
    await asyncio.to_thread(model.tokenizer_entered.wait, 2)
    texts = ["one idiot", "boom here", "three"]
    waiting = [asyncio.create_task(batcher.submit([text])) for text in texts]
    await asyncio.sleep(0.02)
    model.tokenizer_gate.set()
    await first
    assert (await waiting[0])[0][0] == 1.0 and (await waiting[2])[0][0] == 0.0
    with pytest.raises(ClassifierError, match="tokenizing: ValueError: scripted tokenizer"):
        await waiting[1]
    assert texts in model.tokenized  # tried together first, then one by one
    assert await batcher.submit(["after"]) == [[0.0, 0.03]]


async def test_a_pass_waits_for_texts_being_tokenized_when_it_starts(model_and_batcher):
    """Had one thread tokenized and run the model, texts that arrived during a pass would
    all be in the next one: the model thread waits for the tokenizer to finish them."""
    model, batcher = model_and_batcher
    running = await model_busy(model, batcher)  # the model holds "warm"
    quick = asyncio.create_task(batcher.submit(["quick one"]))
    await tokenized(model, ["quick one"])
    model.slow_gate.clear()
    slow = asyncio.create_task(batcher.submit(["slow one here"]))
    await asyncio.to_thread(model.slow_entered.wait, 2)  # "slow one here" is being tokenized
    model.gate.set()  # "warm" ends while "slow one here" is still in the tokenizer
    await running
    await asyncio.sleep(0.05)
    model.slow_gate.set()
    assert (await quick)[0][0] == 0.0 and (await slow)[0][0] == 0.0
    assert model.batches[1:] == [[4, 5]]  # one pass for both, not [[4], [5]]


async def test_a_pipelined_pass_takes_the_rows_ready_and_leaves_the_tokenizer_working():
    """On a GPU (``pipelined``) the device should not idle while the tokenizer works: the
    pass after "warm" takes the one text ready, and the one still being tokenized goes
    in the pass after it (compare the test above)."""
    model = ScriptedModel()
    batcher = make(model, bounds=BatchBounds(max_rows=16, max_tokens=512, overdue_s=5.0,
                                             pipelined=True))
    try:
        running = await model_busy(model, batcher)
        quick = asyncio.create_task(batcher.submit(["quick one"]))
        await tokenized(model, ["quick one"])
        model.slow_gate.clear()
        slow = asyncio.create_task(batcher.submit(["slow one here"]))
        await asyncio.to_thread(model.slow_entered.wait, 2)
        model.gate.set()
        await running
        assert (await quick)[0][0] == 0.0 and not slow.done()  # scored, "slow" still held
        model.slow_gate.set()
        assert (await slow)[0][0] == 0.0
        assert model.batches[1:] == [[4], [5]]
    finally:
        model.gate.set()
        model.slow_gate.set()
        await batcher.close()


async def test_a_pipelined_burst_is_tokenized_in_parts():
    model = ScriptedModel()
    batcher = make(model, max_queue=256, bounds=BatchBounds(
        max_rows=256, max_tokens=4096, overdue_s=5.0, pipelined=True))
    try:
        model.tokenizer_gate.clear()
        first = asyncio.create_task(batcher.submit(["first"]))
        await asyncio.to_thread(model.tokenizer_entered.wait, 2)
        burst = [f"text {n}" + (" idiot" if n == 50 else "") for n in range(70)]
        waiting = [asyncio.create_task(batcher.submit([text])) for text in burst]
        await asyncio.sleep(0.02)
        model.tokenizer_gate.set()
        await first
        scores = [(await task)[0][0] for task in waiting]
        assert scores == [1.0 if n == 50 else 0.0 for n in range(70)]
        assert [len(call) for call in model.tokenized] == [1, PIPELINE_CHUNK, PIPELINE_CHUNK, 6]
    finally:
        await batcher.close()
