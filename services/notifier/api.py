"""The notifier's HTTP API (port 8006): the delivery log, a wiring test per channel, and the routing in force.

Nothing here ever shows a secret: delivery targets are stored masked (`https://host/…` for the webhook), reasons pass
through the redactor, and the settings view lists which channels are configured, not how.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, field_validator

from services.notifier import alerts
from services.notifier.delivery import Notifier
from shared.alerting import EMAIL_ADDRESS, Channel, Route

router = APIRouter(prefix="/v1", tags=["notifications"])
Status = Literal["sending", "sent", "failed", "collapsed", "skipped"]


def get_notifier(request: Request) -> Notifier:
    return request.app.state.deps  # type: ignore[no-any-return]


NotifierDep = Annotated[Notifier, Depends(get_notifier)]


class DeliveryOut(BaseModel):
    """One (event, channel) delivery as the log records it."""

    id: int
    event_id: str
    event_type: str
    channel: str
    severity: str
    status: Status
    title: str
    target: str = Field(description="Recipients, or the webhook's host only (the URL is a secret).")
    attempts: int
    reason: str | None
    collapsed: int = Field(description="How many alerts this message stands for (a window summary: more than 1).")
    window_id: int | None
    correlation_id: str | None
    created_at: datetime
    updated_at: datetime


class DeliveryList(BaseModel):
    count: int
    deliveries: list[DeliveryOut]


class WiringTestRequest(BaseModel):
    channel: Channel
    requested_by: str = Field("operator", max_length=100)
    email_to: list[str] = Field(default_factory=list, description="Email only; default: NOTIFIER_EMAIL_TO.")

    @field_validator("email_to")
    @classmethod
    def _addresses(cls, addresses: list[str]) -> list[str]:
        bad = [a for a in addresses if not EMAIL_ADDRESS.match(a)]
        if bad:
            raise ValueError(f"not email addresses: {bad}")
        return addresses


class WiringTestAnswer(BaseModel):
    sent: bool
    delivery: DeliveryOut


class RoutingView(BaseModel):
    routes: list[Route]
    configured_channels: list[Channel]
    filter_policy: dict[str, Any]
    collapse_window_seconds: float
    retry_attempts: int


def _out(notifier: Notifier, row: dict[str, Any]) -> DeliveryOut:
    return DeliveryOut.model_validate(
        {
            **row,
            "reason": notifier.redactor(row["reason"]) if row.get("reason") else None,
            "target": notifier.redactor(row["target"]),
            "created_at": datetime.fromtimestamp(row["created_at"], UTC),
            "updated_at": datetime.fromtimestamp(row["updated_at"], UTC),
        }
    )


@router.get("/deliveries", summary="The delivery log, newest first")
async def deliveries(
    notifier: NotifierDep,
    status: Status | None = None,
    channel: Channel | None = None,
    event_type: str | None = None,
    event_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> DeliveryList:
    rows = await notifier.log.recent(
        status=status, channel=channel, event_type=event_type, event_id=event_id, limit=limit
    )
    return DeliveryList(count=len(rows), deliveries=[_out(notifier, r) for r in rows])


@router.post(
    "/test",
    summary="Send a test notification to one channel",
    responses={409: {"description": "channel not configured"}, 502: {"description": "the channel refused it"}},
)
async def send_test(body: WiringTestRequest, notifier: NotifierDep) -> JSONResponse:
    if body.channel not in notifier.senders:
        raise HTTPException(409, f"{body.channel} is not configured on this notifier (see NOTIFIER_* settings)")
    recipients = tuple(body.email_to or notifier.settings.email_to) if body.channel == "email" else ()
    if body.channel == "email" and not recipients:
        raise HTTPException(422, "no recipients: pass email_to or set NOTIFIER_EMAIL_TO")
    alert = alerts.wiring_check_alert(
        f"test-{uuid.uuid4().hex}", body.channel, body.requested_by, notifier.dashboard_url
    )
    result = await notifier.deliver(alert, body.channel, recipients)
    answer = WiringTestAnswer(sent=result.status == "sent", delivery=_out(notifier, dict(result.delivery)))
    return JSONResponse(answer.model_dump(mode="json"), status_code=200 if answer.sent else 502)


@router.get("/routing", summary="The routes in force, the configured channels and the derived SNS filter policy")
async def routing(notifier: NotifierDep) -> RoutingView:
    return RoutingView(
        routes=list(notifier.routing.routes),
        configured_channels=list(notifier.senders),
        filter_policy=notifier.routing.filter_policy(),
        collapse_window_seconds=notifier.settings.collapse_window_seconds,
        retry_attempts=notifier.settings.retry_attempts,
    )
