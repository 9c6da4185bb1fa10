"""The real notifier app against the test emulator: its SQS queue, the SNS topic, the DLQ, the receivers, the API."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.notifier.app import app
from shared.alerting import Routing
from shared.events import Envelope
from shared.messages import decode_body
from shared.provision import apply
from shared.publisher import message_attributes
from shared.settings import CommonSettings
from shared.topology import Topology
from tests.conftest import boto
from tests.integration.notifier.conftest import SMTP_PASSWORD, SMTP_USER, WEBHOOK_SECRET, Mailbox, Webhook
from tests.support.servers import running, wait_until
from tests.unit.notifier.samples import PAYLOADS, UNROUTED, envelope

pytestmark = pytest.mark.integration
StartNotifier = Callable[..., AbstractContextManager[str]]
TEAMS_ONLY = [{"name": "t", "event_types": ["drift.detected", "training.failed"], "channels": ["teams"]}]


@pytest.fixture
def start_notifier(topology: Topology, monkeypatch: pytest.MonkeyPatch, webhook: Webhook) -> StartNotifier:
    """`with start_notifier(NOTIFIER_X=...) as url:` runs the notifier app wired to the test webhook."""

    @contextmanager
    def start(**env: str) -> Iterator[str]:
        base = {
            "NOTIFIER_TEAMS_WEBHOOK_URL": webhook.url,
            "NOTIFIER_RETRY_BASE_DELAY": "0.01",
            "NOTIFIER_RETRY_MAX_DELAY": "0.02",
            "NOTIFIER_COLLAPSE_WINDOW_SECONDS": "0",
            "NOTIFIER_EMAIL_TO": '["team@example.com"]',
            "CONSUMER_WAIT_SECONDS": "1",
            "CONSUMER_RETRY_BACKOFF_MAX": "0",
            "CONSUMER_VISIBILITY_TIMEOUT": "5",  # a copy left to its twin comes back soon
        }
        for name, value in {**base, **env}.items():
            monkeypatch.setenv(name, value)
        # The module's app (created at import): creating one here would reset logging under pytest's capture.
        with running(app) as url:
            yield url

    return start


def queue_url(topology: Topology, name: str) -> str:
    return str(boto("sqs").get_queue_url(QueueName=name)["QueueUrl"])


def capture(topology: Topology) -> str:
    """A queue subscribed to the topic for the notifier's own events (notification.*)."""
    sqs, sns = boto("sqs"), boto("sns")
    url = sqs.create_queue(QueueName=f"{topology.namespace}-capture-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic = sns.create_topic(Name=topology.topic_name)["TopicArn"]
    sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, ReturnSubscriptionArn=True)["SubscriptionArn"]
    policy = json.dumps({"event_type": [{"prefix": "notification."}]})
    sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="FilterPolicy", AttributeValue=policy)
    sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="RawMessageDelivery", AttributeValue="true")
    return str(url)


def drain(url: str, wait: int = 1) -> list[Envelope]:
    got = boto("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait)
    events = [e for m in got.get("Messages", []) for e in decode_body(m["Body"])]
    return [e for e in events if isinstance(e, Envelope)]


def queue_empty(url: str) -> bool:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attrs = boto("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return all(attrs[n] == "0" for n in names)


def deliveries(base: str, **params: Any) -> list[dict[str, Any]]:
    answer = httpx.get(f"{base}/v1/deliveries", params=params, timeout=10)
    answer.raise_for_status()
    return list(answer.json()["deliveries"])


def test_the_same_sqs_message_twice_gives_one_delivery_and_one_sent_event(
    topology: Topology, start_notifier: StartNotifier, webhook: Webhook
) -> None:
    events = capture(topology)
    event = envelope(PAYLOADS["drift.detected"])
    url = queue_url(topology, topology.queue_name("notifier"))
    with start_notifier(NOTIFIER_ROUTES=json.dumps(TEAMS_ONLY)) as base:
        for _ in range(2):
            boto("sqs").send_message(QueueUrl=url, MessageBody=event.model_dump_json())
        wait_until(lambda: deliveries(base, status="sent"), what="a sent delivery")
        wait_until(lambda: queue_empty(url), what="both copies handled")
        rows = deliveries(base)
    assert len(webhook.inbox.received("teams")) == 1
    assert [(r["event_id"], r["channel"], r["status"]) for r in rows] == [(event.id, "teams", "sent")]
    sent = wait_until(lambda: drain(events), what="notification.sent on the topic")
    assert {(e.type, e.payload.event_id) for e in sent} == {("notification.sent", event.id)}  # type: ignore[attr-defined]


def test_a_final_failure_emits_notification_failed_and_the_message_reaches_the_dlq(
    topology: Topology, start_notifier: StartNotifier, webhook: Webhook
) -> None:
    events = capture(topology)
    webhook.inbox.statuses[:] = [400] * 20
    event = envelope(PAYLOADS["training.failed"])
    boto("sqs").send_message(
        QueueUrl=queue_url(topology, topology.queue_name("notifier")), MessageBody=event.model_dump_json()
    )
    dlq = queue_url(topology, topology.dlq_name("notifier"))
    with start_notifier(NOTIFIER_ROUTES=json.dumps(TEAMS_ONLY)) as base:
        dead = wait_until(lambda: drain(dlq), timeout=60, what="the message in the DLQ")
        (row,) = deliveries(base, channel="teams")
    assert [e.id for e in dead] == [event.id]
    assert row["status"] == "failed" and "Teams answered 400" in row["reason"]
    assert webhook.inbox.received() == [] and webhook.inbox.posts == row["attempts"]  # one try per receive, no retry
    failed = wait_until(lambda: drain(events), what="notification.failed on the topic")
    assert {e.type for e in failed} == {"notification.failed"}
    assert "400" in failed[0].payload.reason  # type: ignore[attr-defined]


def test_post_test_reaches_each_channel_and_no_secret_leaks(
    topology: Topology,
    start_notifier: StartNotifier,
    webhook: Webhook,
    secure_mailbox: Mailbox,
    certificate: tuple[Path, Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")  # httpx logs every request URL: the secret, unless filtered
    smtp = {
        "NOTIFIER_SMTP_HOST": "127.0.0.1",
        "NOTIFIER_SMTP_PORT": str(secure_mailbox.port),
        "NOTIFIER_SMTP_USERNAME": SMTP_USER,
        "NOTIFIER_SMTP_PASSWORD": SMTP_PASSWORD,
        "NOTIFIER_SMTP_CA_FILE": str(certificate[0]),
    }
    answers: list[str] = []
    with start_notifier(**smtp) as base:
        for channel in ("teams", "email"):
            answer = httpx.post(f"{base}/v1/test", json={"channel": channel, "requested_by": "ana"}, timeout=30)
            assert answer.status_code == 200, answer.text
            answers.append(answer.text)
        webhook.inbox.statuses[:] = [400]
        refused = httpx.post(f"{base}/v1/test", json={"channel": "teams"}, timeout=30)
        assert refused.status_code == 502 and refused.json()["delivery"]["status"] == "failed"
        answers.append(refused.text)
        for path in ("/v1/deliveries", "/v1/routing", "/openapi.json", "/metrics"):
            answers.append(httpx.get(f"{base}{path}", timeout=10).text)
    assert [c["title"] for c in webhook.inbox.received("teams")] == ["Test notification from the MLOps notifier"]
    (mail,) = secure_mailbox.inbox.received("email")
    assert mail["login"] is True and "ana asked for this test message" in mail["text"]
    log_lines = [
        r.getMessage() + (r.exc_text or "")
        for r in caplog.records
        if not (r.name == "uvicorn.access" and "/webhook/" in r.getMessage())  # the test receiver's own access log
    ]
    assert any("HTTP Request: POST" in line for line in log_lines)  # the line that would carry the URL was logged
    for secret in (WEBHOOK_SECRET, "abc123/triggers", SMTP_PASSWORD):
        assert not [line for line in log_lines if secret in line]
        assert not [text for text in answers if secret in text]


def test_the_notifier_aligns_its_subscription_filter_with_its_routes_on_start(
    topology: Topology, start_notifier: StartNotifier
) -> None:
    routes = [{"name": "ops", "event_types": ["pipeline.failed"], "min_severity": "critical"}]
    with start_notifier(NOTIFIER_ROUTES=json.dumps(routes)):
        sns = boto("sns")
        topic = sns.create_topic(Name=topology.topic_name)["TopicArn"]
        subs = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
        (sub,) = [s for s in subs if s["Endpoint"].endswith(f":{topology.queue_name('notifier')}")]
        policy = sns.get_subscription_attributes(SubscriptionArn=sub["SubscriptionArn"])["Attributes"]["FilterPolicy"]
    assert json.loads(policy) == Routing.model_validate({"routes": routes}).filter_policy()


def test_the_filter_policy_from_the_routes_keeps_unrouted_events_off_the_notifier_queue(
    topology: Topology, monkeypatch: pytest.MonkeyPatch
) -> None:
    routes = [
        {"name": "drift", "event_types": ["drift.detected"], "min_severity": "high"},
        {"name": "training", "event_types": ["training.failed"]},
    ]
    monkeypatch.setenv("NOTIFIER_ROUTES", json.dumps(routes))
    apply(CommonSettings())  # provisioning again converges the subscription to the new routes
    sns = boto("sns")
    topic = sns.create_topic(Name=topology.topic_name)["TopicArn"]
    low_drift = envelope(PAYLOADS["drift.detected"].model_copy(update={"level": "warning"}))
    unrouted = [envelope(UNROUTED), envelope(PAYLOADS["model.promoted"]), low_drift]
    routed = [envelope(PAYLOADS["drift.detected"]), envelope(PAYLOADS["training.failed"])]
    for event in [*unrouted, *routed]:
        sns.publish(TopicArn=topic, Message=event.model_dump_json(), MessageAttributes=message_attributes(event))
    url = queue_url(topology, topology.queue_name("notifier"))
    seen: list[Envelope] = []

    def arrived() -> bool:
        seen.extend(drain(url))
        return len(seen) >= len(routed)

    wait_until(arrived, what="the routed events")
    seen.extend(drain(url, wait=2))  # anything else would have arrived by now
    assert sorted(e.id for e in seen) == sorted(e.id for e in routed)
