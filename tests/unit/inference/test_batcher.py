"""The batcher with an in-memory model: batch formation by size and by wait, overload, baseline mode, drain."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from services.inference.batcher import Batcher, BatchSettings, NoModel, Overloaded, ShuttingDown
from tests.unit.inference.fakes import FakeModel


@pytest.fixture
async def executor() -> AsyncIterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(1)
    yield pool
    pool.shutdown(wait=False, cancel_futures=True)


async def _started(batcher: Batcher) -> asyncio.Task[None]:
    task = asyncio.create_task(batcher.run())
    await asyncio.sleep(0)
    return task


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_requests_arriving_within_max_wait_share_one_pass(executor: ThreadPoolExecutor) -> None:
    model = FakeModel()
    batcher = Batcher(lambda: model, executor, BatchSettings(max_batch_texts=64, max_wait=0.2))
    task = await _started(batcher)
    futures = [batcher.submit([f"text {i}"]) for i in range(5)]
    results = await asyncio.gather(*futures)
    await _stop(task)
    assert model.passes == [[f"text {i}" for i in range(5)]]
    assert [r[1][0].text for r in results] == [f"text {i}" for i in range(5)]  # each gets its own result back
    assert all(r[0] is model for r in results)


async def test_a_full_batch_does_not_wait_for_the_timer(executor: ThreadPoolExecutor) -> None:
    model = FakeModel()
    # max_wait of a minute: only reaching max_batch_texts can start these passes before the test times out.
    batcher = Batcher(lambda: model, executor, BatchSettings(max_batch_texts=4, max_wait=60))
    task = await _started(batcher)
    futures = [batcher.submit(["x", "y"]) for _ in range(4)]
    await asyncio.wait_for(asyncio.gather(*futures), 10)
    await _stop(task)
    assert [len(p) for p in model.passes] == [4, 4]


async def test_work_queued_during_a_pass_forms_the_next_batch(executor: ThreadPoolExecutor) -> None:
    model = FakeModel()
    batcher = Batcher(lambda: model, executor, BatchSettings(max_batch_texts=8, max_wait=0))
    task = await _started(batcher)
    model.gate.clear()
    first = batcher.submit(["first"])
    await asyncio.to_thread(model.entered.wait, 5)  # the first pass is running (and held)
    rest = [batcher.submit([f"t{i}"]) for i in range(10)]
    model.gate.set()
    await asyncio.gather(first, *rest)
    await _stop(task)
    assert [len(p) for p in model.passes] == [1, 8, 2]  # size-capped, in arrival order


async def test_without_batching_every_request_is_its_own_pass(executor: ThreadPoolExecutor) -> None:
    model = FakeModel()
    batcher = Batcher(lambda: model, executor, BatchSettings(max_batch_texts=64, max_wait=0.05, batching=False))
    task = await _started(batcher)
    await asyncio.gather(*(batcher.submit([f"t{i}", "u"]) for i in range(3)))
    await _stop(task)
    assert [len(p) for p in model.passes] == [2, 2, 2]


async def test_past_the_queue_bound_requests_are_refused_at_once(executor: ThreadPoolExecutor) -> None:
    model = FakeModel()
    batcher = Batcher(lambda: model, executor, BatchSettings(max_batch_texts=2, max_wait=0, max_queue_texts=3))
    model.gate.clear()  # the loop is not even running: nothing leaves the queue
    accepted = [batcher.submit(["a"]), batcher.submit(["b", "c"])]
    with pytest.raises(Overloaded):
        batcher.submit(["d"])
    assert batcher.queued_texts == 3
    model.gate.set()
    task = await _started(batcher)
    await asyncio.gather(*accepted)
    assert batcher.queued_texts == 0
    await batcher.submit(["now there is room"])
    await _stop(task)


async def test_no_model_is_refused_not_queued(executor: ThreadPoolExecutor) -> None:
    batcher = Batcher(lambda: None, executor, BatchSettings())
    with pytest.raises(NoModel):
        batcher.submit(["anyone there?"])
    assert batcher.queued_texts == 0


async def test_shutdown_answers_everything_queued_and_then_refuses(executor: ThreadPoolExecutor) -> None:
    model = FakeModel()
    batcher = Batcher(lambda: model, executor, BatchSettings(max_batch_texts=3, max_wait=60))
    task = await _started(batcher)
    futures = [batcher.submit([f"t{i}"]) for i in range(2)]  # waiting for company (a minute)
    model.gate.clear()
    await asyncio.sleep(0.01)
    task.cancel()  # shutdown while they wait
    model.gate.set()
    await asyncio.gather(task, return_exceptions=True)
    assert all(f.done() and not f.exception() for f in futures)
    assert sum(len(p) for p in model.passes) == 2
    with pytest.raises(ShuttingDown):
        batcher.submit(["late"])


async def test_a_pass_in_progress_at_shutdown_is_still_answered(executor: ThreadPoolExecutor) -> None:
    model = FakeModel()
    batcher = Batcher(lambda: model, executor, BatchSettings(max_batch_texts=1, max_wait=0))
    task = await _started(batcher)
    model.gate.clear()
    running = batcher.submit(["in the model thread"])
    await asyncio.to_thread(model.entered.wait, 5)
    task.cancel()
    await asyncio.sleep(0.05)
    model.gate.set()
    await asyncio.gather(task, return_exceptions=True)
    assert running.result()[1][0].text == "in the model thread"


async def test_the_model_is_read_once_per_batch(executor: ThreadPoolExecutor) -> None:
    old, new = FakeModel(version=1), FakeModel(version=2)
    serving = [old]
    batcher = Batcher(lambda: serving[0], executor, BatchSettings(max_batch_texts=1, max_wait=0))
    task = await _started(batcher)
    old.gate.clear()
    first = batcher.submit(["one"])
    await asyncio.to_thread(old.entered.wait, 5)
    second = batcher.submit(["two"])
    serving[0] = new  # swap while the first pass runs
    old.gate.set()
    (m1, _), (m2, _) = await asyncio.gather(first, second)
    await _stop(task)
    assert (m1.version, m2.version) == (1, 2)
