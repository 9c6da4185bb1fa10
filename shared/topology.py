"""The platform's AWS topology, defined once.

Buckets (one per environment), the S3 notifications of the home bucket, the SNS topic of domain events, one SQS queue
per consuming service with its subscription filter policy and its dead-letter queue, and the drift-check schedule.
`make provision` (`python -m shared.provision`), the LocalStack init hook, the services (queue names) and the ECS
IAM policies all read this module; there is no second hand-written copy of a resource name.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shared.alerting import notifier_filter_policy
from shared.settings import ENVIRONMENTS, CommonSettings

MAX_RECEIVE_COUNT = 5


@dataclass(frozen=True)
class S3Rule:
    """S3 ObjectCreated notifications under a prefix (and suffix) of the home bucket, sent to a queue."""

    prefix: str
    suffix: str = ""
    events: tuple[str, ...] = ("s3:ObjectCreated:*",)


@dataclass(frozen=True)
class QueueSpec:
    """The queue one service consumes: what reaches it from SNS (filter policy) and from S3."""

    service: str
    event_types: tuple[str, ...] = ()
    event_prefixes: tuple[str, ...] = ()
    s3_rules: tuple[S3Rule, ...] = ()
    visibility_timeout: int = 60
    fanout: bool = False  # one queue per replica, created by the replica itself (see inference)
    # A policy computed from configuration instead of the lists above (the notifier's, from its routes). Called
    # lazily, so a service that only needs queue names never reads another service's configuration.
    policy_source: Callable[[], dict[str, Any]] | None = None

    def filter_policy(self) -> dict[str, Any] | None:
        if self.policy_source is not None:
            return self.policy_source()
        if not self.event_types and not self.event_prefixes:
            return None
        matches: list[Any] = sorted(self.event_types)
        matches += [{"prefix": p} for p in sorted(self.event_prefixes)]
        return {"event_type": matches}


def _queue_specs() -> tuple[QueueSpec, ...]:
    return (
        QueueSpec("ingest", event_prefixes=("dataset.", "training.", "model.")),
        QueueSpec("prep", s3_rules=(S3Rule("raw/"),), visibility_timeout=120),
        QueueSpec(
            "trainer",
            event_types=("training.requested",),
            s3_rules=(S3Rule("processed/", "manifest.json"),),
            visibility_timeout=300,
        ),
        QueueSpec("registry", event_types=("dataset.prepared", "training.completed"), visibility_timeout=300),
        QueueSpec("inference", event_types=("model.promoted", "model.rolled_back"), fanout=True),
        QueueSpec(
            "monitor",
            event_types=("drift.check_scheduled", "model.promoted", "model.rolled_back"),
            visibility_timeout=600,
        ),
        # What reaches the notifier is what its routes take (event types and severities), see shared.alerting.
        QueueSpec("notifier", policy_source=notifier_filter_policy),
    )


@dataclass(frozen=True)
class Topology:
    """Names and wiring of every resource, derived from the common settings."""

    common: CommonSettings
    queues: tuple[QueueSpec, ...] = field(default_factory=_queue_specs)

    @property
    def namespace(self) -> str:
        return self.common.namespace

    @property
    def home_bucket(self) -> str:
        return self.common.home_bucket

    @property
    def buckets(self) -> dict[str, str]:
        return {env: self.common.bucket_for(env) for env in ENVIRONMENTS}

    @property
    def topic_name(self) -> str:
        return f"{self.namespace}-events"

    @property
    def drift_schedule(self) -> str:
        return self.common.drift_schedule

    @property
    def schedule_name(self) -> str:
        return f"{self.namespace}-drift-check"

    def spec(self, service: str) -> QueueSpec:
        for spec in self.queues:
            if spec.service == service:
                return spec
        raise KeyError(f"no queue for service {service!r}")

    def queue_name(self, service: str, replica: str | None = None) -> str:
        spec = self.spec(service)
        if spec.fanout and replica:
            return f"{self.namespace}-{service}-{replica}"
        return f"{self.namespace}-{service}"

    def dlq_name(self, service: str) -> str:
        return f"{self.queue_name(service)}-dlq"

    def static_queues(self) -> list[QueueSpec]:
        """Queues provisioned ahead of time (fan-out queues belong to their replicas)."""
        return [q for q in self.queues if not q.fanout]

    def s3_notifications(self) -> list[tuple[QueueSpec, S3Rule]]:
        return [(q, rule) for q in self.queues for rule in q.s3_rules]

    def topic_arn(self, account: str) -> str:
        return self.common.topic_arn or f"arn:aws:sns:{self.common.aws_region}:{account}:{self.topic_name}"

    def queue_arn(self, account: str, name: str) -> str:
        return f"arn:aws:sqs:{self.common.aws_region}:{account}:{name}"

    def describe(self) -> dict[str, Any]:
        """A plain view of the topology (for `make provision` output and documentation)."""
        return {
            "buckets": self.buckets,
            "home_bucket": self.home_bucket,
            "topic": self.topic_name,
            "queues": {
                q.service: {
                    "queue": self.queue_name(q.service) + ("-<replica>" if q.fanout else ""),
                    "dlq": None if q.fanout else self.dlq_name(q.service),
                    "filter_policy": q.filter_policy(),
                    "s3": [f"{r.prefix}*{r.suffix}" for r in q.s3_rules],
                }
                for q in self.queues
            },
            "drift_schedule": {"name": self.schedule_name, "expression": self.drift_schedule},
        }


def main() -> None:
    print(json.dumps(Topology(CommonSettings()).describe(), indent=2))  # noqa: T201


if __name__ == "__main__":
    main()
