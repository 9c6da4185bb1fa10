"""Several notifier replicas on one PostgreSQL delivery log: one send per (event, channel), one leader per window."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from services.notifier.delivery import Notifier
from services.notifier.render import Renderer
from services.notifier.retry import RetryPolicy
from services.notifier.secrets import Redactor
from services.notifier.settings import NotifierSettings
from services.notifier.store import DeliveryLog
from shared.bus import HandlerContext, InProgressElsewhere
from shared.db import create_engine
from shared.events import Envelope
from shared.publisher import MemoryPublisher
from tests.unit.notifier.conftest import FakeSender
from tests.unit.notifier.samples import PAYLOADS, envelope

pytestmark = pytest.mark.integration
ROUTES = '[{"name": "t", "event_types": ["drift.detected"], "channels": ["teams"]}]'


@pytest.fixture
async def replicas(postgres_url: str) -> AsyncIterator[tuple[list[Notifier], FakeSender]]:
    """Four notifiers, each with its own engine (as separate processes would have), sharing one fake Teams."""
    teams = FakeSender("teams")
    settings = NotifierSettings(
        teams_webhook_url=SecretStr("https://example.invalid/hook"), routes=ROUTES, collapse_window_seconds=3600
    )
    engines = [create_engine(postgres_url) for _ in range(4)]
    notifiers = []
    for engine in engines:
        store = DeliveryLog(engine)
        await store.create_schema()
        notifiers.append(
            Notifier(
                settings=settings,
                routing=settings.routing(),
                log=store,
                senders={"teams": teams},
                policy=RetryPolicy(1),
                renderer=Renderer(),
                publisher=MemoryPublisher(),
                redactor=Redactor([]),
                dashboard_url="http://127.0.0.1:8004/ui",
            )
        )
    yield notifiers, teams
    for engine in engines:
        await engine.dispose()


async def _notify(notifier: Notifier, event: Envelope) -> str:
    try:
        await notifier.notify(event, HandlerContext("notifier", "k", "c", event.id, MemoryPublisher()))
    except InProgressElsewhere:
        return "in progress"
    return "done"


async def test_identical_alerts_on_every_replica_at_once_elect_one_leader(
    replicas: tuple[list[Notifier], FakeSender],
) -> None:
    notifiers, teams = replicas
    drift = PAYLOADS["drift.detected"].model_copy(update={"environment": f"env-{uuid.uuid4().hex[:8]}"})
    events = [envelope(drift.model_copy(update={"run_id": f"run-{n}"})) for n in range(12)]
    await asyncio.gather(*(_notify(notifiers[n % 4], e) for n, e in enumerate(events)))
    assert len(teams.sent) == 1
    rows = [r for e in events for r in await notifiers[0].log.recent(event_id=e.id)]
    assert sorted(r["status"] for r in rows) == ["collapsed"] * 11 + ["sent"]


async def test_the_same_event_on_every_replica_at_once_is_sent_once(
    replicas: tuple[list[Notifier], FakeSender],
) -> None:
    notifiers, teams = replicas
    event = envelope(PAYLOADS["drift.detected"].model_copy(update={"environment": f"env-{uuid.uuid4().hex[:8]}"}))
    outcomes = await asyncio.gather(*(_notify(n, event) for n in notifiers for _ in range(2)))
    assert len(teams.sent) == 1
    assert set(outcomes) <= {"done", "in progress"} and "done" in outcomes
