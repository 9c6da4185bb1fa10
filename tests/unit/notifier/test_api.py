"""The HTTP API in process: the delivery log with its filters, the wiring test's answers, the routing view."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from services.notifier.api import router
from services.notifier.channels import DeliveryError
from services.notifier.delivery import DeliveryFailed, Notifier
from shared.bus import HandlerContext
from shared.publisher import MemoryPublisher
from tests.unit.notifier.conftest import FakeSender, NotifierFactory
from tests.unit.notifier.samples import PAYLOADS, envelope


@pytest.fixture
async def teams() -> FakeSender:
    return FakeSender("teams")


@pytest.fixture
async def notifier(make_notifier: NotifierFactory, teams: FakeSender) -> Notifier:
    return await make_notifier({"teams": teams, "email": FakeSender("email")})  # type: ignore[no-any-return]


@pytest.fixture
async def client(notifier: Notifier) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.include_router(router)
    app.state.deps = notifier
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://notifier") as client:
        yield client


async def _notify(notifier: Notifier, event_type: str) -> None:
    event = envelope(PAYLOADS[event_type])
    with contextlib.suppress(DeliveryFailed):
        await notifier.notify(event, HandlerContext("notifier", "k", "c", event.id, MemoryPublisher()))


async def test_deliveries_are_listed_newest_first_and_filtered(
    client: httpx.AsyncClient, notifier: Notifier, teams: FakeSender
) -> None:
    await _notify(notifier, "drift.detected")
    teams.script = [DeliveryError("Teams answered 400 Bad Request: nope", retryable=False)]
    await _notify(notifier, "training.failed")
    listing = (await client.get("/v1/deliveries")).json()
    assert listing["count"] == 4
    assert [(d["event_type"], d["channel"]) for d in listing["deliveries"]][:2] == [
        ("training.failed", "teams"),
        ("training.failed", "email"),
    ]
    failed = (await client.get("/v1/deliveries", params={"status": "failed"})).json()["deliveries"]
    assert [(d["event_type"], d["reason"]) for d in failed] == [
        ("training.failed", "Teams answered 400 Bad Request: nope (not retryable)")
    ]
    email = (await client.get("/v1/deliveries", params={"channel": "email", "event_type": "drift.detected"})).json()
    assert [(d["status"], d["target"], d["title"]) for d in email["deliveries"]] == [
        ("sent", "team@example.com", "Drift detected in prod: tickets v3")
    ]
    assert (await client.get("/v1/deliveries", params={"status": "lost"})).status_code == 422
    assert (await client.get("/v1/deliveries", params={"limit": 0})).status_code == 422


async def test_wiring_test_answers_sent_failed_and_refuses_unknown_channels(
    client: httpx.AsyncClient, notifier: Notifier, teams: FakeSender
) -> None:
    ok = await client.post("/v1/test", json={"channel": "teams", "requested_by": "ana"})
    assert ok.status_code == 200 and ok.json()["sent"] is True
    assert teams.sent[0][0].event_type == "notifier.test" and teams.sent[0][0].payload["requested_by"] == "ana"
    teams.script = [DeliveryError("Teams answered 404 Not Found: no such flow", retryable=False)]
    refused = await client.post("/v1/test", json={"channel": "teams"})
    assert refused.status_code == 502 and "404" in refused.json()["delivery"]["reason"]
    assert (await client.post("/v1/test", json={"channel": "slack"})).status_code == 422
    mail = await client.post("/v1/test", json={"channel": "email", "email_to": ["ops@example.com"]})
    assert mail.json()["delivery"]["target"] == "ops@example.com"


async def test_wiring_test_of_an_unconfigured_channel_is_a_409(make_notifier: NotifierFactory) -> None:
    app = FastAPI()
    app.include_router(router)
    app.state.deps = await make_notifier({"teams": FakeSender("teams")})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://n") as client:
        answer = await client.post("/v1/test", json={"channel": "email"})
    assert answer.status_code == 409 and "not configured" in answer.json()["detail"]


async def test_routing_view_shows_routes_channels_and_policy_without_secrets(client: httpx.AsyncClient) -> None:
    answer = await client.get("/v1/routing")
    view = answer.json()
    assert [r["name"] for r in view["routes"]] == ["all-alerts", "needs-action"]
    assert view["configured_channels"] == ["teams", "email"]
    assert "drift.detected" in view["filter_policy"]["event_type"]
    assert "secret-token" not in answer.text
