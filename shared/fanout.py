"""Per-replica fan-out queues: every replica of a service receives every event its topology spec filters for.

One shared SQS queue would give each event to one replica only. A service whose spec has `fanout=True` (inference:
every replica must swap models) instead gets, per replica, its own queue `<ns>-<service>-<replica>` subscribed to
the topic with the spec's filter policy and raw delivery. The replica creates it on start (`ensure_replica_queue`)
and deletes queue and subscription on a clean shutdown (`ReplicaQueue.remove`).

A replica that crashes leaves its queue behind. That is harmless and bounded by design:
  * the queue keeps messages only `RETENTION_SECONDS` (5 min): a promotion nobody consumes expires, so a stale
    queue holds at most the last few minutes of (rare) promotion events;
  * each live replica stamps its queue with a `last-seen` tag every few minutes (`ReplicaQueue.heartbeat`), and
    `sweep_stale` (run by every replica on start and with each heartbeat) deletes the queues and subscriptions of
    replicas silent for `STALE_AFTER_SECONDS`;
  * failed messages go to the service's shared dead-letter queue (`<ns>-<service>-dlq`) after MAX_RECEIVE_COUNT.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from shared.topology import MAX_RECEIVE_COUNT, Topology

log = logging.getLogger(__name__)

RETENTION_SECONDS = 300
HEARTBEAT_SECONDS = 120
STALE_AFTER_SECONDS = 900
LAST_SEEN_TAG = "mlops:last-seen"
REPLICA_TAG = "mlops:replica-of"


@dataclass
class ReplicaQueue:
    """One replica's queue and its subscription (both owned by the replica)."""

    sqs: Any
    sns: Any
    service: str
    queue_url: str
    queue_arn: str
    subscription_arn: str

    async def heartbeat(self) -> None:
        await self.sqs.tag_queue(QueueUrl=self.queue_url, Tags={LAST_SEEN_TAG: str(int(time.time()))})

    async def remove(self) -> None:
        """Unsubscribe, then delete the queue (clean shutdown). Errors are logged: the sweep catches leftovers."""
        try:
            await self.sns.unsubscribe(SubscriptionArn=self.subscription_arn)
        except Exception as exc:
            log.warning("could not unsubscribe %s: %s", self.subscription_arn, exc)
        try:
            await self.sqs.delete_queue(QueueUrl=self.queue_url)
        except Exception as exc:
            log.warning("could not delete %s: %s", self.queue_url, exc)
        log.info("removed fan-out queue %s", self.queue_url)


async def _arn(sqs: Any, url: str) -> str:
    attrs = await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str(attrs["Attributes"]["QueueArn"])


async def ensure_replica_queue(
    sqs: Any, sns: Any, topology: Topology, service: str, replica: str, account: str
) -> ReplicaQueue:
    """Create (or converge) this replica's queue and its filtered raw-delivery subscription to the topic."""
    spec = topology.spec(service)
    if not spec.fanout:
        raise ValueError(f"{service} has no fan-out queue in the topology")
    topic_arn = topology.topic_arn(account)
    dlq_url = (await sqs.create_queue(QueueName=topology.dlq_name(service)))["QueueUrl"]
    await sqs.set_queue_attributes(QueueUrl=dlq_url, Attributes={"MessageRetentionPeriod": "1209600"})
    name = topology.queue_name(service, replica)
    url = (await sqs.create_queue(QueueName=name))["QueueUrl"]
    arn = await _arn(sqs, url)
    redrive = {"deadLetterTargetArn": await _arn(sqs, dlq_url), "maxReceiveCount": str(MAX_RECEIVE_COUNT)}
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "sns",
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
            }
        ],
    }
    await sqs.set_queue_attributes(
        QueueUrl=url,
        Attributes={
            "VisibilityTimeout": str(spec.visibility_timeout),
            "MessageRetentionPeriod": str(RETENTION_SECONDS),
            "ReceiveMessageWaitTimeSeconds": "20",
            "RedrivePolicy": json.dumps(redrive),
            "Policy": json.dumps(policy),
        },
    )
    await sqs.tag_queue(QueueUrl=url, Tags={LAST_SEEN_TAG: str(int(time.time())), REPLICA_TAG: service})
    subscription = await sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=arn,
        Attributes={"RawMessageDelivery": "true", "FilterPolicy": json.dumps(spec.filter_policy() or {})},
        ReturnSubscriptionArn=True,
    )
    log.info("fan-out queue %s subscribed to %s", name, topic_arn)
    return ReplicaQueue(sqs, sns, service, url, arn, str(subscription["SubscriptionArn"]))


async def sweep_stale(
    sqs: Any, sns: Any, topology: Topology, service: str, account: str, *, stale_after: float = STALE_AFTER_SECONDS
) -> list[str]:
    """Delete the fan-out queues (and subscriptions) of replicas whose last heartbeat is older than `stale_after`."""
    prefix = topology.queue_name(service, "x")[:-1]  # "<ns>-<service>-"
    listing = await sqs.list_queues(QueueNamePrefix=prefix)
    removed = []
    now = time.time()
    for url in listing.get("QueueUrls", []):
        if url.endswith("-dlq"):
            continue
        tags = (await sqs.list_queue_tags(QueueUrl=url)).get("Tags", {})
        if tags.get(REPLICA_TAG) != service or now - float(tags.get(LAST_SEEN_TAG, now)) < stale_after:
            continue
        arn = await _arn(sqs, url)
        await _unsubscribe_endpoint(sns, topology.topic_arn(account), arn)
        await sqs.delete_queue(QueueUrl=url)
        removed.append(url)
        log.info("swept stale fan-out queue %s", url)
    return removed


async def _unsubscribe_endpoint(sns: Any, topic_arn: str, endpoint: str) -> None:
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"TopicArn": topic_arn, **({"NextToken": token} if token else {})}
        page = await sns.list_subscriptions_by_topic(**kwargs)
        for sub in page.get("Subscriptions", []):
            if sub.get("Endpoint") == endpoint:
                await sns.unsubscribe(SubscriptionArn=sub["SubscriptionArn"])
        token = page.get("NextToken")
        if not token:
            return
