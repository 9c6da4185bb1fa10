"""The retry policy: exponential backoff with jitter, Retry-After, and when to stop."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from services.notifier.channels import DeliveryError, retry_after_seconds
from services.notifier.retry import RetryPolicy, with_retries

TRANSIENT = DeliveryError("503", retryable=True)
PERMANENT = DeliveryError("400", retryable=False)


def test_backoff_doubles_within_jitter_and_stops_at_the_cap() -> None:
    policy = RetryPolicy(attempts=10, base_delay=1.0, max_delay=8.0, rng=random.Random(1))
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0), (9, 8.0)]:
        delays = [policy.backoff(attempt) for _ in range(200)]
        assert min(delays) >= ceiling / 2 and max(delays) <= ceiling
        assert len(set(delays)) > 100  # jittered, not a fixed schedule


def test_permanent_errors_and_the_last_attempt_stop_at_once() -> None:
    policy = RetryPolicy(attempts=3)
    assert policy.delay(1, PERMANENT) is None
    assert policy.delay(2, TRANSIENT) is not None
    assert policy.delay(3, TRANSIENT) is None


def test_retry_after_is_honoured_and_a_too_long_one_ends_the_try() -> None:
    policy = RetryPolicy(attempts=5, base_delay=0.1, max_delay=0.1, retry_after_max=60)
    assert policy.delay(1, DeliveryError("429", retryable=True, retry_after=7)) == 7
    assert policy.delay(1, DeliveryError("429", retryable=True, retry_after=600)) is None


def test_retry_after_header_in_seconds_or_as_a_date() -> None:
    now = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("120") == 120
    assert retry_after_seconds("Sun, 01 Mar 2026 12:00:30 GMT", now) == 30
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


async def test_with_retries_sleeps_between_attempts_and_reports_the_last_reason() -> None:
    slept: list[float] = []
    script = [TRANSIENT, TRANSIENT, DeliveryError("429", retryable=True, retry_after=3)]

    async def attempt() -> str:
        if script:
            raise script.pop(0)
        return "202"

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    outcome = await with_retries(attempt, RetryPolicy(attempts=5, base_delay=0.01, max_delay=0.01), sleep=sleep)
    assert (outcome.ok, outcome.attempts, outcome.detail) == (True, 4, "202")
    assert len(slept) == 3 and slept[2] == 3

    async def refused() -> str:
        raise PERMANENT

    failed = await with_retries(refused, RetryPolicy(attempts=5), sleep=sleep)
    assert (failed.ok, failed.attempts, failed.detail) == (False, 1, "400 (not retryable)")
