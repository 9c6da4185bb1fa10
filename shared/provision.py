"""Apply the topology to whatever `AWS_ENDPOINT_URL` points at (moto server, LocalStack, AWS), idempotently.

Run as `python -m shared.provision` (`make provision`); the LocalStack init hook runs the same thing. Every call
converges: existing resources are updated to match (queue attributes, filter policies, notifications, schedule).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError

from shared.aws import custom_endpoint
from shared.events import DriftCheckScheduled, Envelope
from shared.settings import CommonSettings
from shared.topology import MAX_RECEIVE_COUNT, QueueSpec, Topology

log = logging.getLogger("provision")


def _client(service: str, region: str) -> Any:
    config = Config(s3={"addressing_style": "path"}) if custom_endpoint() else None
    return boto3.client(service, region_name=region, config=config)


SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"  # replaced by EventBridge Scheduler at each firing


def scheduled_envelope(expression: str) -> dict[str, Any]:
    """The `drift.check_scheduled` envelope the schedule sends. Its id and time are EventBridge Scheduler context
    attributes: a fixed id would make every firing after the first a "redelivery" the monitor's idempotency skips,
    while the slot's time keeps a retried delivery of the same slot the same event."""
    envelope = Envelope.wrap(
        DriftCheckScheduled(schedule=expression), source="scheduler", correlation_id="drift-schedule"
    ).model_dump(mode="json")
    return {
        **envelope,
        "id": f"drift-schedule-{SCHEDULED_TIME}",
        "occurred_at": SCHEDULED_TIME,
        "correlation_id": f"drift-schedule-{SCHEDULED_TIME}",
    }


class Provisioner:
    def __init__(self, topology: Topology) -> None:
        self.t = topology
        region = topology.common.aws_region
        self.s3, self.sns, self.sqs = (_client(s, region) for s in ("s3", "sns", "sqs"))
        self.region = region
        self.account = _client("sts", region).get_caller_identity()["Account"]

    def apply(self) -> dict[str, Any]:
        for bucket in self.t.buckets.values():
            self.ensure_bucket(bucket)
        topic_arn = self.sns.create_topic(Name=self.t.topic_name)["TopicArn"]
        queue_arns = {spec.service: self.ensure_queue(spec, topic_arn) for spec in self.t.static_queues()}
        self.ensure_notifications(queue_arns)
        schedule = self.ensure_schedule(queue_arns["monitor"])
        return {"account": self.account, "topic_arn": topic_arn, "queues": queue_arns, "schedule": schedule}

    def ensure_bucket(self, bucket: str) -> None:
        try:
            kwargs: dict[str, Any] = {"Bucket": bucket}
            if self.region != "us-east-1":
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
            self.s3.create_bucket(**kwargs)
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise
        # Versioning keeps every raw upload recoverable and gives each source object a version id for lineage.
        self.s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        # Parts of uploads abandoned by a crashed ingest would otherwise be kept (and billed) forever.
        self.s3.put_bucket_lifecycle_configuration(
            Bucket=bucket,
            LifecycleConfiguration={
                "Rules": [
                    {
                        "ID": "abort-incomplete-multipart-uploads",
                        "Status": "Enabled",
                        "Filter": {"Prefix": ""},
                        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2},
                    }
                ]
            },
        )

    def ensure_queue(self, spec: QueueSpec, topic_arn: str) -> str:
        dlq_url = self.sqs.create_queue(QueueName=self.t.dlq_name(spec.service))["QueueUrl"]
        dlq_arn = self._queue_arn(dlq_url)
        name = self.t.queue_name(spec.service)
        url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = self._queue_arn(url)
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes=self._queue_attributes(spec, arn, dlq_arn, topic_arn))
        self.sqs.set_queue_attributes(QueueUrl=dlq_url, Attributes={"MessageRetentionPeriod": "1209600"})
        if (policy := spec.filter_policy()) is not None:
            self.ensure_subscription(topic_arn, arn, policy)
        return arn

    def _queue_attributes(self, spec: QueueSpec, arn: str, dlq_arn: str, topic_arn: str) -> dict[str, str]:
        redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVE_COUNT)}
        return {
            "VisibilityTimeout": str(spec.visibility_timeout),
            "MessageRetentionPeriod": "1209600",
            "ReceiveMessageWaitTimeSeconds": "20",
            "RedrivePolicy": json.dumps(redrive),
            "Policy": json.dumps(self._queue_policy(arn, topic_arn)),
        }

    def _queue_policy(self, arn: str, topic_arn: str) -> dict[str, Any]:
        # Only our topic, our home bucket and the scheduler may send to a queue.
        bucket_arn = f"arn:aws:s3:::{self.t.home_bucket}"
        return {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "sns",
                    "Effect": "Allow",
                    "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
                },
                {
                    "Sid": "s3",
                    "Effect": "Allow",
                    "Principal": {"Service": "s3.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": arn,
                    "Condition": {"ArnLike": {"aws:SourceArn": bucket_arn}},
                },
            ],
        }

    def ensure_subscription(self, topic_arn: str, queue_arn: str, policy: dict[str, Any]) -> None:
        # subscribe() returns the existing subscription for the same endpoint; then make its attributes match.
        sub_arn = self.sns.subscribe(
            TopicArn=topic_arn,
            Protocol="sqs",
            Endpoint=queue_arn,
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]
        self.sns.set_subscription_attributes(
            SubscriptionArn=sub_arn, AttributeName="FilterPolicy", AttributeValue=json.dumps(policy)
        )
        self.sns.set_subscription_attributes(
            SubscriptionArn=sub_arn, AttributeName="RawMessageDelivery", AttributeValue="true"
        )

    def ensure_notifications(self, queue_arns: dict[str, str]) -> None:
        configs = []
        for spec, rule in self.t.s3_notifications():
            rules = [{"Name": "prefix", "Value": rule.prefix}]
            if rule.suffix:
                rules.append({"Name": "suffix", "Value": rule.suffix})
            configs.append(
                {
                    "Id": f"{spec.service}-{rule.prefix.strip('/')}",
                    "QueueArn": queue_arns[spec.service],
                    "Events": list(rule.events),
                    "Filter": {"Key": {"FilterRules": rules}},
                }
            )
        self.s3.put_bucket_notification_configuration(
            Bucket=self.t.home_bucket, NotificationConfiguration={"QueueConfigurations": configs}
        )

    def ensure_schedule(self, monitor_queue_arn: str) -> dict[str, str] | None:
        scheduler = _client("scheduler", self.region)
        spec = {
            "Name": self.t.schedule_name,
            "ScheduleExpression": self.t.drift_schedule,
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "Target": {
                "Arn": monitor_queue_arn,
                "RoleArn": self._scheduler_role(),
                "Input": json.dumps(scheduled_envelope(self.t.drift_schedule)),
            },
        }
        try:
            try:
                scheduler.create_schedule(**spec)
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConflictException":
                    raise
                scheduler.update_schedule(**spec)
        except (ClientError, EndpointConnectionError) as exc:
            # Emulators without the Scheduler API: the monitor's embedded scheduler runs the same expression.
            log.warning("scheduler not available here (%s); the monitor schedules checks itself", exc)
            return None
        return {"name": self.t.schedule_name, "expression": self.t.drift_schedule}

    def _scheduler_role(self) -> str:
        return f"arn:aws:iam::{self.account}:role/{self.t.namespace}-scheduler"

    def _queue_arn(self, url: str) -> str:
        attrs = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return str(attrs["Attributes"]["QueueArn"])


def apply(common: CommonSettings | None = None, retries: int = 30) -> dict[str, Any]:
    """Apply the topology, waiting for the endpoint to come up (an emulator may still be starting)."""
    topology = Topology(common or CommonSettings())
    for attempt in range(retries):
        try:
            return Provisioner(topology).apply()
        except EndpointConnectionError:
            if attempt == retries - 1:
                raise
            time.sleep(1)
    raise RuntimeError("unreachable")


def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    result = apply()
    print(json.dumps(result, indent=2))  # noqa: T201


if __name__ == "__main__":
    main()
