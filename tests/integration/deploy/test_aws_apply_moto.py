"""The IAM roles and the CloudWatch side of the deployment, applied to the moto server.

moto validates IAM policy documents (grammar, actions, ARNs) on PutRolePolicy, stores metric filters and alarms, and
lacks PutQueryDefinition (HTTP 500 NotImplemented): the saved queries are checked against botocore's input shape in
tests/unit/deploy instead, and skipped here with `saved_queries=False`.
"""

from __future__ import annotations

import json
import uuid

import boto3
import pytest

from ecs import iam, observability
from ecs.services import ORDER
from ecs.target import Target

pytestmark = [pytest.mark.integration, pytest.mark.no_localstack]


@pytest.fixture
def target(on_moto: str) -> Target:
    return Target("123456789012", "us-east-1", "o" + uuid.uuid4().hex[:8])


def test_roles_and_policies_are_accepted_and_idempotent(target: Target) -> None:
    client = boto3.client("iam", region_name="us-east-1")
    first = iam.apply(list(ORDER), target, client)
    assert iam.apply(list(ORDER), target, client) == first, "a second apply updates in place"
    assert len(first) == 2 * len(ORDER)
    stored = client.get_role_policy(RoleName=target.task_role("inference"), PolicyName=target.task_role("inference"))
    assert stored["PolicyDocument"] == iam.task_policy("inference", target)
    trust = client.get_role(RoleName=target.execution_role("notifier"))["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}


def test_a_malformed_policy_is_refused_by_iam(target: Target) -> None:
    # The check above means something: moto's validator does refuse a broken document.
    client = boto3.client("iam", region_name="us-east-1")
    iam.apply(["prep"], target, client)
    broken = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject"}]}
    with pytest.raises(client.exceptions.MalformedPolicyDocumentException):
        client.put_role_policy(RoleName=target.task_role("prep"), PolicyName="x", PolicyDocument=json.dumps(broken))


def test_log_groups_metric_filters_and_alarms(target: Target) -> None:
    logs = boto3.client("logs", region_name="us-east-1")
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    counts = observability.apply(target, logs, cloudwatch, saved_queries=False)
    assert counts == {"log_groups": 7, "metric_filters": 7, "alarms": 7 + 2 * 6, "queries": 0}
    observability.apply(target, logs, cloudwatch, saved_queries=False)  # idempotent
    groups = logs.describe_log_groups(logGroupNamePrefix=f"/ecs/{target.namespace}/")["logGroups"]
    assert sorted(g["logGroupName"] for g in groups) == sorted(target.log_group(s) for s in ORDER)
    assert all(g["retentionInDays"] == target.log_retention_days for g in groups)
    filters = logs.describe_metric_filters(logGroupName=target.log_group("prep"))["metricFilters"]
    # AWS replaces a filter of the same name; moto appends a copy on the second apply, hence sets.
    assert {(f["filterName"], f["filterPattern"]) for f in filters} == {
        (f"{target.namespace}-prep-http-5xx", "{ $.http_status >= 500 }")
    }
    alarms = cloudwatch.describe_alarms(AlarmNamePrefix=f"{target.namespace}-")["MetricAlarms"]
    assert len(alarms) == 19
    age = next(a for a in alarms if a["AlarmName"] == f"{target.namespace}-trainer-queue-age")
    assert age["Dimensions"] == [{"Name": "QueueName", "Value": f"{target.namespace}-trainer"}]
