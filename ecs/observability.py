"""Operations on AWS, defined with the rest of the deployment: log groups, metric filters, alarms, saved queries.

Per service: its log group (the task definitions write there), a metric filter counting its HTTP 5xx answers (the
JSON line `shared.observability` writes for each one), and CloudWatch alarms on the 5xx rate, on the age of the
oldest message in its queue, and on its dead-letter queue's depth. For everyone: saved CloudWatch Logs Insights
queries that follow one correlation id across all services (every log line is JSON with `correlation_id`,
`service`, `msg`).

    python -m ecs.observability render          # the requests, as JSON
    python -m ecs.observability apply           # create or update all of it (idempotent)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.session
from botocore.validate import ParamValidator

from ecs.services import ORDER, SERVICES
from ecs.target import Target

METRIC_NAMESPACE = "MLOps"  # + "/<namespace>": deployments sharing an account keep their metrics apart
HTTP_5XX_PER_MINUTE = 5  # more 5xx answers than this per minute, in 3 of 5 minutes, raises the alarm
# Oldest message older than this (seconds) means stuck work; the trainer and monitor hold messages for long jobs.
QUEUE_AGE_SECONDS = {"trainer": 6 * 3600, "monitor": 2 * 3600, "registry": 3600}
DEFAULT_QUEUE_AGE_SECONDS = 900
CORRELATION_PLACEHOLDER = "PASTE-CORRELATION-ID"


@dataclass
class Plan:
    """Every request `apply` makes, by API operation."""

    log_groups: list[dict[str, Any]] = field(default_factory=list)
    metric_filters: list[dict[str, Any]] = field(default_factory=list)
    alarms: list[dict[str, Any]] = field(default_factory=list)
    queries: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"log_groups": self.log_groups, "metric_filters": self.metric_filters, "alarms": self.alarms,
                "queries": self.queries}  # fmt: skip


def _actions(target: Target) -> dict[str, Any]:
    if not target.alarm_topic_arn:
        return {"ActionsEnabled": False}
    return {"ActionsEnabled": True, "AlarmActions": [target.alarm_topic_arn], "OKActions": [target.alarm_topic_arn]}


def _alarm(target: Target, service: str, kind: str, description: str, **spec: Any) -> dict[str, Any]:
    return {
        "AlarmName": f"{target.namespace}-{service}-{kind}",
        "AlarmDescription": description,
        "TreatMissingData": "notBreaching",
        "Tags": [{"Key": "service", "Value": service}, {"Key": "namespace", "Value": target.namespace}],
        **_actions(target),
        **spec,
    }


def service_alarms(target: Target, service: str) -> list[dict[str, Any]]:
    """The alarms of one service: 5xx rate, and (for a service with a static queue) queue age and DLQ depth."""
    topology = target.topology()
    alarms = [
        _alarm(
            target, service, "http-5xx",
            f"{service} answers more than {HTTP_5XX_PER_MINUTE} HTTP 5xx per minute (3 of the last 5 minutes)",
            Namespace=f"{METRIC_NAMESPACE}/{target.namespace}", MetricName="Http5xx",
            Dimensions=[{"Name": "Service", "Value": service}],
            Statistic="Sum", Period=60, EvaluationPeriods=5, DatapointsToAlarm=3,
            Threshold=HTTP_5XX_PER_MINUTE, ComparisonOperator="GreaterThanThreshold",
        )
    ]  # fmt: skip
    if topology.spec(service).fanout:
        return alarms  # per-replica queues come and go with the replicas and have no dead-letter queue
    queue, dlq = topology.queue_name(service), topology.dlq_name(service)
    age = QUEUE_AGE_SECONDS.get(service, DEFAULT_QUEUE_AGE_SECONDS)
    alarms.append(
        _alarm(
            target, service, "queue-age", f"the oldest message in {queue} waits for more than {age} s",
            Namespace="AWS/SQS", MetricName="ApproximateAgeOfOldestMessage",
            Dimensions=[{"Name": "QueueName", "Value": queue}],
            Statistic="Maximum", Period=300, EvaluationPeriods=2, DatapointsToAlarm=2,
            Threshold=age, ComparisonOperator="GreaterThanThreshold",
        )
    )  # fmt: skip
    alarms.append(
        _alarm(
            target, service, "dlq-depth", f"messages {service} could not handle are waiting in {dlq}",
            Namespace="AWS/SQS", MetricName="ApproximateNumberOfMessagesVisible",
            Dimensions=[{"Name": "QueueName", "Value": dlq}],
            Statistic="Maximum", Period=300, EvaluationPeriods=1, DatapointsToAlarm=1,
            Threshold=0, ComparisonOperator="GreaterThanThreshold",
        )
    )  # fmt: skip
    return alarms


def queries(target: Target) -> list[dict[str, Any]]:
    """Saved Logs Insights queries over every service's log group (edit the id in the first two before running)."""
    groups = [target.log_group(s) for s in ORDER]
    cid = CORRELATION_PLACEHOLDER
    texts = {
        "follow-correlation-id": (
            "fields @timestamp, service, level, msg, event_id, logger\n"
            f'| filter correlation_id = "{cid}"\n'
            "| sort @timestamp asc\n| limit 2000"
        ),
        "correlation-id-errors": (
            "fields @timestamp, service, level, msg, exc\n"
            f'| filter correlation_id = "{cid}" and level in ["warning", "error", "critical"]\n'
            "| sort @timestamp asc"
        ),
        "correlation-timelines": (
            "filter ispresent(correlation_id)\n"
            "| stats earliest(@timestamp) as first_seen, latest(@timestamp) as last_seen,\n"
            "        count_distinct(service) as services, count(*) as lines by correlation_id\n"
            "| sort last_seen desc\n| limit 100"
        ),
        "errors-by-service": (
            'filter level in ["error", "critical"]\n'
            "| stats count(*) as errors, count_distinct(correlation_id) as correlation_ids by service\n"
            "| sort errors desc"
        ),
        "http-5xx": (
            "filter http_status >= 500\n"
            "| stats count(*) as answers by service, method, route, http_status\n| sort answers desc"
        ),
    }
    return [
        {"name": f"{target.namespace}/{name}", "logGroupNames": groups, "queryString": text}
        for name, text in texts.items()
    ]


def plan(target: Target) -> Plan:
    out = Plan()
    for service in ORDER:
        group = target.log_group(service)
        out.log_groups.append({"logGroupName": group, "retentionInDays": target.log_retention_days})
        out.metric_filters.append(
            {
                "logGroupName": group,
                "filterName": f"{target.namespace}-{service}-http-5xx",
                "filterPattern": "{ $.http_status >= 500 }",
                "metricTransformations": [
                    {
                        "metricName": "Http5xx",
                        "metricNamespace": f"{METRIC_NAMESPACE}/{target.namespace}",
                        "metricValue": "1",
                        "unit": "Count",
                        "dimensions": {"Service": "$.service"},
                    }
                ],
            }
        )
        out.alarms.extend(service_alarms(target, service))
    out.queries = queries(target)
    return out


# --------------------------------------------------------------------------- checking and applying

_OPERATIONS = {
    "metric_filters": ("logs", "PutMetricFilter"),
    "alarms": ("cloudwatch", "PutMetricAlarm"),
    "queries": ("logs", "PutQueryDefinition"),
}


def validate(p: Plan) -> None:
    """Every request against its API's input shape (botocore's service models); ValueError on the first misfit."""
    session = botocore.session.get_session()
    for attr, (api, operation) in _OPERATIONS.items():
        shape = session.get_service_model(api).operation_model(operation).input_shape
        for request in getattr(p, attr):
            report = ParamValidator().validate(request, shape)
            if report.has_errors():
                raise ValueError(f"{operation}: {report.generate_report()}")


def apply(target: Target, logs: Any = None, cloudwatch: Any = None, saved_queries: bool = True) -> dict[str, int]:
    """Create or update everything in the plan. `saved_queries=False` skips PutQueryDefinition (moto lacks it)."""
    p = plan(target)
    validate(p)
    logs = logs or boto3.client("logs")
    cloudwatch = cloudwatch or boto3.client("cloudwatch")
    for group in p.log_groups:
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            logs.create_log_group(logGroupName=group["logGroupName"])
        logs.put_retention_policy(**group)
    for request in p.metric_filters:
        logs.put_metric_filter(**request)
    for request in p.alarms:
        cloudwatch.put_metric_alarm(**request)
    if saved_queries:
        for request in p.queries:
            existing = logs.describe_query_definitions(queryDefinitionNamePrefix=request["name"])
            same = [q for q in existing.get("queryDefinitions", []) if q["name"] == request["name"]]
            extra = {"queryDefinitionId": same[0]["queryDefinitionId"]} if same else {}
            logs.put_query_definition(**request, **extra)
    return {"log_groups": len(p.log_groups), "metric_filters": len(p.metric_filters), "alarms": len(p.alarms),
            "queries": len(p.queries) if saved_queries else 0}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ecs.observability", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["render", "apply"])
    parser.add_argument("--account", help="account id for render (default: from STS)")
    parser.add_argument("--alarm-topic-arn", help="SNS topic alarms notify (default $MLOPS_ALARM_TOPIC_ARN)")
    args = parser.parse_args(argv)
    account = args.account or boto3.client("sts").get_caller_identity()["Account"]
    target = Target.from_env(account, alarm_topic_arn=args.alarm_topic_arn)
    if args.command == "render":
        p = plan(target)
        validate(p)
        sys.stdout.write(json.dumps(p.as_dict(), indent=2) + "\n")
    else:
        sys.stdout.write(json.dumps(apply(target)) + "\n")
    return 0


__all__ = ["SERVICES", "apply", "plan", "validate"]

if __name__ == "__main__":
    sys.exit(main())
