"""The senders against real receivers: a local Teams webhook (HTTP) and SMTP servers (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from services.notifier import secrets
from services.notifier.delivery import DeliveryFailed, Notifier
from services.notifier.settings import NotifierSettings
from services.notifier.wiring import build_notifier
from shared.bus import HandlerContext
from shared.db import create_engine
from shared.events import Envelope
from shared.publisher import MemoryPublisher
from tests.integration.notifier.conftest import SMTP_PASSWORD, SMTP_USER, WEBHOOK_SECRET, Mailbox, Webhook
from tests.support.emulator import free_port
from tests.unit.notifier.samples import PAYLOADS, envelope

pytestmark = pytest.mark.integration
FAST = {"retry_base_delay": 0.01, "retry_max_delay": 0.02, "collapse_window_seconds": 0}
TEAMS_ONLY = '[{"name": "t", "event_types": ["drift.detected", "model.rolled_back"], "channels": ["teams"]}]'
EMAIL_ONLY = '[{"name": "e", "event_types": ["drift.detected"], "channels": ["email"]}]'

Build = Callable[..., Any]


@pytest.fixture
async def build(tmp_path: Path) -> AsyncIterator[Build]:
    """`await build(**settings)`: a notifier with real senders, a SQLite delivery log and a memory publisher."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'notifier.db'}")
    http = httpx.AsyncClient(timeout=5)
    guards: list[secrets.SecretFilter] = []

    async def make(**values: Any) -> Notifier:
        settings = NotifierSettings(**{**FAST, **values})
        guards.append(secrets.install(secrets.Redactor(settings.secrets())))  # as the app's bootstrap does
        return await build_notifier(settings, engine, MemoryPublisher(), http, "http://127.0.0.1:8004/ui")

    yield make
    for guard in guards:
        secrets.uninstall(guard)
    await http.aclose()
    await engine.dispose()


def notifier_log(caplog: pytest.LogCaptureFixture) -> str:
    """Everything logged, except the test receiver's own access lines (they show the path it was called on)."""
    return "\n".join(
        r.getMessage() for r in caplog.records if not (r.name == "uvicorn.access" and "/webhook/" in r.getMessage())
    )


def _ctx(event: Envelope) -> HandlerContext:
    return HandlerContext("notifier", "k", event.correlation_id, event.id, MemoryPublisher())


async def test_a_webhook_failing_three_times_then_accepting_gives_exactly_one_delivery(
    build: Build, webhook: Webhook
) -> None:
    webhook.inbox.statuses[:] = [503, 500, 429]
    webhook.inbox.retry_after = "0"
    notifier = await build(teams_webhook_url=SecretStr(webhook.url), routes=TEAMS_ONLY)
    event, ctx = envelope(PAYLOADS["drift.detected"]), _ctx(envelope(PAYLOADS["drift.detected"]))
    await notifier.notify(event, ctx)
    (card,) = webhook.inbox.received("teams")
    assert webhook.inbox.posts == 4
    assert card["title"] == "Drift detected in prod: tickets v3" and card["severity"] == "high"
    (row,) = await notifier.log.recent()
    assert (row["status"], row["attempts"]) == ("sent", 4)
    assert [(e.type, e.payload.attempts) for e in ctx.emitted] == [("notification.sent", 4)]  # type: ignore[attr-defined]


async def test_a_400_from_teams_is_not_retried_and_its_reason_is_logged(
    build: Build, webhook: Webhook, caplog: pytest.LogCaptureFixture
) -> None:
    webhook.inbox.statuses[:] = [400, 400, 400]
    notifier = await build(teams_webhook_url=SecretStr(webhook.url), routes=TEAMS_ONLY)
    event = envelope(PAYLOADS["model.rolled_back"])
    caplog.set_level(logging.INFO, logger="httpx")  # httpx logs each request's URL at INFO: the leak to prevent
    with caplog.at_level(logging.INFO), pytest.raises(DeliveryFailed, match="400"):
        await notifier.notify(event, _ctx(event))
    assert webhook.inbox.posts == 1 and webhook.inbox.received() == []
    (row,) = await notifier.log.recent()
    assert row["status"] == "failed" and row["attempts"] == 1
    assert row["reason"] == "Teams answered 400 Bad Request: scripted failure 400: card rejected (not retryable)"
    assert "failed: Teams answered 400 Bad Request: scripted failure 400: card rejected" in caplog.text
    assert "HTTP Request: POST" in notifier_log(caplog) and WEBHOOK_SECRET not in notifier_log(caplog)


async def test_an_unreachable_webhook_is_retried_then_fails(build: Build) -> None:
    url = f"http://127.0.0.1:{free_port()}/webhook/x"  # nothing listens there
    notifier = await build(teams_webhook_url=SecretStr(url), routes=TEAMS_ONLY, retry_attempts=3)
    event = envelope(PAYLOADS["drift.detected"])
    with pytest.raises(DeliveryFailed, match="network error: ConnectError"):
        await notifier.notify(event, _ctx(event))
    (row,) = await notifier.log.recent()
    assert row["attempts"] == 3 and "gave up after 3 attempt(s)" in row["reason"]


async def test_email_over_starttls_with_login_is_multipart(
    build: Build, secure_mailbox: Mailbox, certificate: tuple[Path, Path]
) -> None:
    notifier = await build(
        smtp_host="127.0.0.1",
        smtp_port=secure_mailbox.port,
        smtp_security="starttls",
        smtp_username=SMTP_USER,
        smtp_password=SMTP_PASSWORD,
        smtp_ca_file=certificate[0],
        email_to=["ml-team@example.com", "oncall@example.com"],
        routes=EMAIL_ONLY,
    )
    event = envelope(PAYLOADS["drift.detected"])
    await notifier.notify(event, _ctx(event))
    (mail,) = secure_mailbox.inbox.received("email")
    assert mail["login"] is True
    assert mail["rcpt_tos"] == ["ml-team@example.com", "oncall@example.com"]
    assert mail["title"] == "[HIGH] Drift detected in prod: tickets v3"
    assert "Drifted checks: text_length, prediction" in mail["text"]
    assert 'href="http://127.0.0.1:8005/v1/runs/run-9/report"' in mail["html"]
    assert mail["message_id"] == f"<{event.id}.email@mlops.notifier>"


async def test_an_smtp_server_refusing_the_login_fails_without_retrying(
    build: Build, secure_mailbox: Mailbox, certificate: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    notifier = await build(
        smtp_host="127.0.0.1",
        smtp_port=secure_mailbox.port,
        smtp_username=SMTP_USER,
        smtp_password="wrong-password-123",
        smtp_ca_file=certificate[0],
        email_to=["ml-team@example.com"],
        routes=EMAIL_ONLY,
    )
    event = envelope(PAYLOADS["drift.detected"])
    with caplog.at_level(logging.DEBUG), pytest.raises(DeliveryFailed, match="SMTP login refused: 535"):
        await notifier.notify(event, _ctx(event))
    (row,) = await notifier.log.recent()
    assert row["status"] == "failed" and row["attempts"] == 1
    assert secure_mailbox.inbox.received() == []
    assert "wrong-password-123" not in caplog.text


async def test_plain_smtp_relay_without_login(build: Build, mailbox: Mailbox) -> None:
    notifier = await build(
        smtp_host="127.0.0.1",
        smtp_port=mailbox.port,
        smtp_security="none",
        email_to=["a@example.com"],
        routes=EMAIL_ONLY,
    )
    event = envelope(PAYLOADS["drift.detected"])
    await notifier.notify(event, _ctx(event))
    (mail,) = mailbox.inbox.received()
    assert mail["login"] is False and mail["severity"] == "high"


async def test_starttls_required_but_the_server_cannot_is_a_clear_failure(build: Build, mailbox: Mailbox) -> None:
    notifier = await build(
        smtp_host="127.0.0.1",
        smtp_port=mailbox.port,
        smtp_security="starttls",
        email_to=["a@example.com"],
        routes=EMAIL_ONLY,
    )
    event = envelope(PAYLOADS["drift.detected"])
    with pytest.raises(DeliveryFailed, match="STARTTLS"):
        await notifier.notify(event, _ctx(event))
    assert mailbox.inbox.received() == []
