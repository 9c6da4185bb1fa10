"""Assembling the notifier from its settings (used by the app's bootstrap and by the tests, with their own parts)."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.notifier.channels import EmailSender, Sender, TeamsSender
from services.notifier.delivery import Notifier
from services.notifier.render import Renderer
from services.notifier.retry import RetryPolicy
from services.notifier.secrets import Redactor
from services.notifier.settings import NotifierSettings
from services.notifier.store import DeliveryLog
from shared.alerting import Channel
from shared.publisher import EventPublisher

log = logging.getLogger(__name__)


def senders(settings: NotifierSettings, http: httpx.AsyncClient, renderer: Renderer) -> dict[Channel, Sender]:
    """The configured channels (Teams with a webhook URL, email with an SMTP host)."""
    out: dict[Channel, Sender] = {}
    if settings.teams_webhook_url is not None:
        out["teams"] = TeamsSender(settings.teams_webhook_url, http, renderer)
    if settings.smtp_host:
        out["email"] = EmailSender(settings, renderer)
    return out


async def build_notifier(
    settings: NotifierSettings,
    engine: AsyncEngine,
    publisher: EventPublisher,
    http: httpx.AsyncClient,
    dashboard_url: str,
) -> Notifier:
    store = DeliveryLog(engine)
    await store.create_schema()
    renderer = Renderer()
    routing = settings.routing()
    settings.warn_unconfigured(routing)
    policy = RetryPolicy(
        settings.retry_attempts, settings.retry_base_delay, settings.retry_max_delay, settings.retry_after_max
    )
    return Notifier(
        settings=settings,
        routing=routing,
        log=store,
        senders=senders(settings, http, renderer),
        policy=policy,
        renderer=renderer,
        publisher=publisher,
        redactor=Redactor(settings.secrets()),
        dashboard_url=dashboard_url,
    )


async def sync_filter_policy(sns: Any, topic_arn: str, queue_arn: str, policy: dict[str, Any]) -> bool:
    """Make the notifier queue's subscription filter equal the routes' policy; True when it had to change.

    Provisioning sets the same policy; this covers a notifier restarted with new routes without re-provisioning.
    Without the permission (or the subscription), it warns and leaves the policy alone.
    """
    try:
        paginator = sns.get_paginator("list_subscriptions_by_topic")
        async for page in paginator.paginate(TopicArn=topic_arn):
            for sub in page.get("Subscriptions", []):
                if sub.get("Endpoint") == queue_arn:
                    return await _apply(sns, sub["SubscriptionArn"], policy)
    except (BotoCoreError, ClientError) as exc:
        log.warning("could not check the notifier subscription's filter policy: %s", exc)
        return False
    log.warning("no subscription of %s to %s: run provisioning (make provision)", queue_arn, topic_arn)
    return False


async def _apply(sns: Any, subscription_arn: str, policy: dict[str, Any]) -> bool:
    attributes = (await sns.get_subscription_attributes(SubscriptionArn=subscription_arn))["Attributes"]
    current = json.loads(attributes.get("FilterPolicy") or "null")
    if current == policy:
        return False
    await sns.set_subscription_attributes(
        SubscriptionArn=subscription_arn, AttributeName="FilterPolicy", AttributeValue=json.dumps(policy)
    )
    log.info("notifier subscription filter policy updated from the routes: %s", json.dumps(policy))
    return True
