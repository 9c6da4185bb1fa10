"""Fakes of the notifier's own ports (senders, publisher) around its real delivery log on a SQLite file."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from services.notifier.alerts import Alert
from services.notifier.channels import DeliveryError
from services.notifier.delivery import Notifier
from services.notifier.render import Renderer
from services.notifier.retry import RetryPolicy
from services.notifier.secrets import Redactor
from services.notifier.settings import NotifierSettings
from services.notifier.store import DeliveryLog
from shared.alerting import Channel
from shared.db import create_engine
from shared.publisher import MemoryPublisher


class FakeSender:
    """A channel that records what it sent and fails on cue (`script`: one entry per attempt, None = success)."""

    def __init__(self, channel: Channel, script: Sequence[DeliveryError | None] = ()) -> None:
        self.channel = channel
        self.script = list(script)
        self.sent: list[tuple[Alert, tuple[str, ...]]] = []
        self.attempts = 0

    def target(self, recipients: Sequence[str]) -> str:
        return ", ".join(recipients) or f"fake-{self.channel}"

    async def send(self, alert: Alert, recipients: Sequence[str]) -> str:
        self.attempts += 1
        if self.script and (error := self.script.pop(0)) is not None:
            raise error
        self.sent.append((alert, tuple(recipients)))
        return "accepted"


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'notifier.db'}")
    yield engine
    await engine.dispose()


NotifierFactory = Callable[..., Any]


@pytest.fixture
def make_notifier(engine: AsyncEngine) -> NotifierFactory:
    """`await make_notifier(senders, **settings)`: a Notifier on the real log, fake senders, a memory publisher."""

    async def build(senders: dict[Channel, FakeSender], **overrides: Any) -> Notifier:
        values: dict[str, Any] = {
            "teams_webhook_url": SecretStr("https://example.invalid/webhook/secret-token"),
            "smtp_host": "127.0.0.1",
            "smtp_security": "none",
            "email_to": ("team@example.com",),
            "collapse_window_seconds": 0,
            "retry_base_delay": 0.0,
            "retry_max_delay": 0.0,
            **overrides,
        }
        settings = NotifierSettings(**values)
        store = DeliveryLog(engine)
        await store.create_schema()
        return Notifier(
            settings=settings,
            routing=settings.routing(),
            log=store,
            senders=senders,  # type: ignore[arg-type]
            policy=RetryPolicy(settings.retry_attempts, 0.0, 0.0, settings.retry_after_max),
            renderer=Renderer(),
            publisher=MemoryPublisher(),
            redactor=Redactor(settings.secrets()),
            dashboard_url="http://127.0.0.1:8004/ui",
        )

    return build
