"""Retrying one delivery: exponential backoff with jitter, honouring Retry-After, stopping on permanent errors."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from services.notifier.channels import DeliveryError


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 30.0
    retry_after_max: float = 120.0
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def backoff(self, attempt: int) -> float:
        """Delay after failed attempt `attempt` (1-based): half fixed, half random ("equal jitter"), so many
        notifiers hitting the same outage spread out but none retries immediately."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)

    def delay(self, attempt: int, error: DeliveryError) -> float | None:
        """How long to wait before the next attempt; None: stop now."""
        if not error.retryable or attempt >= self.attempts:
            return None
        backoff = self.backoff(attempt)
        if error.retry_after is None:
            return backoff
        if error.retry_after > self.retry_after_max:
            return None  # the receiver wants a long pause: leave it to the message's redelivery
        return max(backoff, error.retry_after)


@dataclass
class Outcome:
    ok: bool
    attempts: int
    detail: str


async def with_retries(
    attempt: Callable[[], Awaitable[str]],
    policy: RetryPolicy,
    on_attempt: Callable[[int], Awaitable[None]] | None = None,
    on_error: Callable[[int, DeliveryError, float | None], Awaitable[None]] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Outcome:
    """Run `attempt` until it succeeds or the policy says stop. Only `DeliveryError` is retried."""
    number = 0
    while True:
        number += 1
        if on_attempt is not None:
            await on_attempt(number)
        try:
            return Outcome(True, number, await attempt())
        except DeliveryError as error:
            wait = policy.delay(number, error)
            if on_error is not None:
                await on_error(number, error, wait)
            if wait is None:
                verdict = "not retryable" if not error.retryable else f"gave up after {number} attempt(s)"
                return Outcome(False, number, f"{error.reason} ({verdict})")
            await sleep(wait)
