"""The SQS consumer every service uses.

Long polling, batch receive, bounded concurrency; a heartbeat extends the message's visibility (and its idempotency
leases) while long work runs; a message is deleted only after its handlers finished and their events are published;
a failure leaves the message for redelivery (after a backoff) and, after maxReceiveCount, for the dead-letter queue;
on shutdown the messages received but not started are released at once (visibility 0) for another worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from shared.bus import InProgressElsewhere, Lease, MessageBus
from shared.logs import correlation
from shared.messages import PoisonMessage, decode_body
from shared.observability import INFLIGHT, MESSAGES
from shared.settings import ConsumerSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SqsMessage:
    message_id: str
    receipt_handle: str
    body: str
    receive_count: int

    @classmethod
    def from_sqs(cls, raw: dict[str, Any]) -> SqsMessage:
        count = int(raw.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
        return cls(raw["MessageId"], raw["ReceiptHandle"], raw.get("Body", ""), count)


class SqsConsumer:
    """Consumes one queue into a message bus until `stop()`."""

    def __init__(self, sqs: Any, queue_url: str, bus: MessageBus, settings: ConsumerSettings) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.queue_name = queue_url.rsplit("/", 1)[-1]
        self.bus = bus
        self.settings = settings
        self._pending: asyncio.Queue[SqsMessage] = asyncio.Queue()
        self._busy = 0  # received and not yet finished; never more than `concurrency`
        self._capacity = asyncio.Condition()
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._inflight = INFLIGHT.labels(bus.service, self.queue_name)

    async def start(self) -> None:
        workers = [
            asyncio.create_task(self._worker(), name=f"sqs-worker-{i}") for i in range(self.settings.concurrency)
        ]
        self._receiver = asyncio.create_task(self._receive_loop(), name="sqs-receiver")
        self._tasks = workers

    async def stop(self) -> None:
        """Stop receiving, release unstarted messages, give in-flight work a grace period."""
        self._stopping.set()
        # A long poll in flight may be about to return messages. Give it a moment so that what it returns is
        # released below at once, instead of staying hidden for a whole visibility timeout after we are gone.
        _done, polling = await asyncio.wait({self._receiver}, timeout=self.settings.shutdown_poll_wait)
        for task in polling:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._release_pending()
        for _ in self._tasks:
            self._pending.put_nowait(_STOP)
        _done, running = await asyncio.wait(self._tasks, timeout=self.settings.shutdown_grace)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)

    @property
    def healthy(self) -> bool:
        receiver = getattr(self, "_receiver", None)
        return receiver is not None and not receiver.done() and not self._stopping.is_set()

    async def _receive_loop(self) -> None:
        while not self._stopping.is_set():
            async with self._capacity:
                await self._capacity.wait_for(lambda: self._busy < self.settings.concurrency)
                free = self.settings.concurrency - self._busy
            try:
                messages = await self._receive(min(free, self.settings.batch_size))
            except (BotoCoreError, ClientError) as exc:
                log.warning("receive failed, backing off: %s", exc)
                await asyncio.sleep(2)
                continue
            self._busy += len(messages)
            for raw in messages:
                self._pending.put_nowait(SqsMessage.from_sqs(raw))

    async def _receive(self, count: int) -> list[dict[str, Any]]:
        response = await self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=count,
            WaitTimeSeconds=self.settings.wait_seconds,
            VisibilityTimeout=self.settings.visibility_timeout,
            AttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
            MessageAttributeNames=["All"],
        )
        return list(response.get("Messages", []))

    async def _done_with_one(self) -> None:
        async with self._capacity:
            self._busy -= 1
            self._capacity.notify_all()

    async def _worker(self) -> None:
        while True:
            message = await self._pending.get()
            if message is _STOP:
                return
            self._inflight.inc()
            try:
                await self._handle(message)
            finally:
                self._inflight.dec()
                await self._done_with_one()

    async def _handle(self, message: SqsMessage) -> None:
        with correlation(None, message.message_id):
            lease = Lease()
            heartbeat = asyncio.create_task(self._heartbeat(message, lease))
            try:
                outcome = await self._process(message, lease)
            finally:
                heartbeat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await heartbeat
            MESSAGES.labels(self.bus.service, self.queue_name, outcome).inc()

    async def _process(self, message: SqsMessage, lease: Lease) -> str:
        try:
            for event in decode_body(message.body):
                await self.bus.dispatch(event, lease)
        except PoisonMessage as exc:
            log.error(
                "poison message, leaving it for the dead-letter queue: %s",
                exc,
                extra={"receive_count": message.receive_count},
            )
            await self._retry_after(message, 0)
            return "poison"
        except InProgressElsewhere:
            log.info("another worker holds this message's work; leaving it")
            return "in_progress_elsewhere"
        except Exception as exc:
            backoff = min(2 ** (message.receive_count - 1), self.settings.retry_backoff_max)
            log.exception("handler failed (receive %d), retry in %ss: %s", message.receive_count, backoff, exc)
            await self._retry_after(message, backoff)
            return "failed"
        await self._delete(message)
        return "done"

    async def _heartbeat(self, message: SqsMessage, lease: Lease) -> None:
        interval = max(1.0, self.settings.visibility_timeout / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                await self.sqs.change_message_visibility(
                    QueueUrl=self.queue_url,
                    ReceiptHandle=message.receipt_handle,
                    VisibilityTimeout=self.settings.visibility_timeout,
                )
                await self.bus.extend(lease)
            except Exception as exc:  # a missed beat is not fatal; the next one may succeed
                log.warning("heartbeat failed: %s", exc)

    async def _retry_after(self, message: SqsMessage, seconds: int) -> None:
        with contextlib.suppress(BotoCoreError, ClientError):
            await self.sqs.change_message_visibility(
                QueueUrl=self.queue_url, ReceiptHandle=message.receipt_handle, VisibilityTimeout=seconds
            )

    async def _delete(self, message: SqsMessage) -> None:
        await self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message.receipt_handle)

    async def _release_pending(self) -> None:
        while not self._pending.empty():
            message = self._pending.get_nowait()
            if message is not _STOP:
                await self._retry_after(message, 0)
                await self._done_with_one()


_STOP: Any = SqsMessage("", "", "", 0)
