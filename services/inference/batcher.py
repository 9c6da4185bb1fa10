"""Micro-batching: requests wait in an asyncio queue; one loop forms batches (up to `max_batch_texts`, or whatever
arrived within `max_wait` of the oldest waiting request) and runs each batch as one forward pass in a single model
thread, resolving every request's future.

While a batch runs, the next one accumulates, so under load batches fill up by themselves and nobody waits for the
timer; at low load a request waits at most `max_wait` for company. Admission is bounded in texts: past
`max_queue_texts` a request is refused at once (`Overloaded`), so latency cannot grow without limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field

from services.inference.metrics import BATCH_TEXTS, FORWARD_SECONDS, QUEUE_DEPTH, QUEUE_WAIT_SECONDS, TEXTS
from services.inference.model import Predictor, TextResult

log = logging.getLogger(__name__)


class Overloaded(RuntimeError):
    """The queue is full; the caller should answer 429 with Retry-After."""


class NoModel(RuntimeError):
    """No model is loaded (none promoted to this environment yet, or it is still loading)."""


class ShuttingDown(RuntimeError):
    """The batcher no longer accepts work."""


@dataclass
class Job:
    texts: Sequence[str]
    future: asyncio.Future[tuple[Predictor, list[TextResult]]]
    enqueued: float = field(default_factory=time.perf_counter)


@dataclass(frozen=True)
class BatchSettings:
    max_batch_texts: int = 64
    max_wait: float = 0.002  # seconds
    max_queue_texts: int = 1024
    batching: bool = True  # False: one forward pass per request (the baseline)


class Batcher:
    """Forms batches from queued jobs and runs them with the model `current()` returns at batch start."""

    def __init__(self, current: Callable[[], Predictor | None], executor: Executor, settings: BatchSettings) -> None:
        self._current = current
        self._executor = executor
        self.settings = settings
        self._jobs: deque[Job] = deque()
        self._queued_texts = 0
        self._arrived = asyncio.Event()
        self._accepting = True
        self.batches: int = 0

    @property
    def queued_texts(self) -> int:
        return self._queued_texts

    def submit(self, texts: Sequence[str]) -> asyncio.Future[tuple[Predictor, list[TextResult]]]:
        """Queue texts for prediction; the future gives the model used and one result per text."""
        if not self._accepting:
            raise ShuttingDown("the service is shutting down")
        if self._current() is None:
            raise NoModel("no model loaded")
        if self._queued_texts and self._queued_texts + len(texts) > self.settings.max_queue_texts:
            raise Overloaded(f"{self._queued_texts} texts are waiting for the model")
        job = Job(texts, asyncio.get_running_loop().create_future())
        self._jobs.append(job)
        self._queued_texts += len(texts)
        QUEUE_DEPTH.set(self._queued_texts)
        self._arrived.set()
        return job.future

    async def run(self) -> None:
        """The batching loop (a background task). On cancellation, work already queued is still answered."""
        try:
            while True:
                await self._run_one()
        except asyncio.CancelledError:
            self._accepting = False
            await self.drain()
            raise

    async def drain(self) -> None:
        """Answer everything queued (shutdown): no batching waits, just passes until the queue is empty."""
        self._accepting = False
        while self._jobs:
            await self._execute(self._take())

    async def _run_one(self) -> None:
        while not self._jobs:
            self._arrived.clear()
            await self._arrived.wait()
        if self.settings.batching:
            await self._wait_for_company()
        await self._execute(self._take())

    async def _wait_for_company(self) -> None:
        # Wait until the batch is full or the oldest job has waited max_wait, whichever comes first.
        deadline = self._jobs[0].enqueued + self.settings.max_wait
        while self._queued_texts < self.settings.max_batch_texts:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)

    def _take(self) -> list[Job]:
        """Jobs for one pass: at least one, then whole jobs while they fit in max_batch_texts."""
        batch = [self._jobs.popleft()]
        size = len(batch[0].texts)
        limit = self.settings.max_batch_texts if self.settings.batching else 0
        while self._jobs and size + len(self._jobs[0].texts) <= limit:
            job = self._jobs.popleft()
            batch.append(job)
            size += len(job.texts)
        self._queued_texts -= size
        QUEUE_DEPTH.set(self._queued_texts)
        return batch

    async def _execute(self, batch: list[Job]) -> None:
        started = time.perf_counter()
        live = [job for job in batch if not job.future.done()]  # a cancelled request needs no prediction
        for job in live:
            QUEUE_WAIT_SECONDS.observe(started - job.enqueued)
        model = self._current()
        if not live:
            return
        if model is None:
            for job in live:
                job.future.set_exception(NoModel("no model loaded"))
            return
        texts = [text for job in live for text in job.texts]
        try:
            results, cancelled = await self._forward(model, texts)
        except Exception as exc:
            log.exception("forward pass of %d texts failed", len(texts))
            for job in live:
                if not job.future.done():
                    job.future.set_exception(exc)
            return
        self.batches += 1
        FORWARD_SECONDS.observe(time.perf_counter() - started)
        BATCH_TEXTS.observe(len(texts))
        TEXTS.inc(len(texts))
        offset = 0
        for job in live:
            part = results[offset : offset + len(job.texts)]
            offset += len(job.texts)
            if not job.future.done():
                job.future.set_result((model, part))
        if cancelled:
            raise asyncio.CancelledError

    async def _forward(self, model: Predictor, texts: list[str]) -> tuple[list[TextResult], bool]:
        # A pass that has started always finishes and is answered, even when the loop is cancelled meanwhile
        # (shutdown): the thread cannot be interrupted, and its requests are waiting for exactly this answer.
        pending = asyncio.ensure_future(model.run(texts, self._executor))
        cancelled = False
        while True:
            try:
                return await asyncio.shield(pending), cancelled
            except asyncio.CancelledError:
                if pending.cancelled():
                    raise
                cancelled = True
