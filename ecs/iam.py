"""Least-privilege IAM for every service, derived from the topology and the service table.

Each service gets two roles:
- a task role (what its code may do): its own queue, publishing to the events topic, the S3 prefixes it reads and
  writes, and the few extras its code really calls (inference's per-replica queues and subscriptions, the notifier's
  subscription filter sync, the monitor's queue health checks, the trainer's SageMaker jobs);
- an execution role (what ECS needs to start it): pull its own ECR repository, write its own log group, read its own
  SSM parameters.

`python -m ecs.iam render <service>` prints both; `python -m ecs.iam apply [service ...]` creates or updates the
roles and their inline policies with boto3 (idempotent).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import boto3

from ecs.services import ORDER, ServiceDef, service
from ecs.target import Target

Statement = dict[str, Any]
CONSUME = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueUrl"]


def _doc(statements: list[Statement]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": statements}


def _objects(bucket: str, prefixes: tuple[str, ...]) -> list[str]:
    return [f"arn:aws:s3:::{bucket}/{p}*" for p in prefixes]


def _s3(svc: ServiceDef, target: Target) -> list[Statement]:
    topology = target.topology()
    home, env_buckets = topology.home_bucket, sorted(set(topology.buckets.values()))
    a = svc.access
    read = _objects(home, a.s3_read) + [r for b in env_buckets for r in _objects(b, a.env_read)]
    write = _objects(home, a.s3_write) + [r for b in env_buckets for r in _objects(b, a.env_write)]
    out: list[Statement] = []
    if read:
        out.append({"Sid": "ReadObjects", "Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                    "Resource": sorted(set(read))})  # fmt: skip
    if write:
        # Multipart uploads (ingest, prep outputs, promotion copies) need the abort/list-parts pair as well.
        actions = ["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
        out.append({"Sid": "WriteObjects", "Effect": "Allow", "Action": actions, "Resource": sorted(set(write))})
    if a.delete_env_copies:
        # Only the promotion copies: a copy whose checksum does not verify is removed before anyone can load it.
        copies = sorted({r for b in env_buckets for r in _objects(b, a.env_write)})
        out.append({"Sid": "DeleteUnverifiedCopies", "Effect": "Allow", "Action": "s3:DeleteObject",
                    "Resource": copies})  # fmt: skip
    if a.list_bucket or a.env_read:
        # HeadBucket (readiness checks) and listings. HeadBucket carries no s3:prefix, so a prefix condition would
        # deny it: the grant is bucket-wide, and reveals key names only (objects stay limited to the prefixes above).
        buckets = [home] + (env_buckets if a.env_read else [])
        out.append({"Sid": "ListBuckets", "Effect": "Allow", "Action": "s3:ListBucket",
                    "Resource": [f"arn:aws:s3:::{b}" for b in sorted(set(buckets))]})  # fmt: skip
    return out


def _messaging(svc: ServiceDef, target: Target) -> list[Statement]:
    topology = target.topology()
    topic = topology.topic_arn(target.account)
    queue = topology.queue_arn(target.account, topology.queue_name(svc.name))
    a = svc.access
    out: list[Statement] = [{"Sid": "PublishEvents", "Effect": "Allow", "Action": "sns:Publish", "Resource": topic}]
    if a.consume:
        out.append({"Sid": "ConsumeOwnQueue", "Effect": "Allow", "Action": [*CONSUME, "sqs:GetQueueAttributes"],
                    "Resource": queue})  # fmt: skip
    if a.fanout_queues:
        replicas = f"{queue}-*"
        out.append({"Sid": "OwnReplicaQueues", "Effect": "Allow",
                    "Action": [*CONSUME, "sqs:CreateQueue", "sqs:DeleteQueue", "sqs:GetQueueAttributes",
                               "sqs:SetQueueAttributes", "sqs:TagQueue", "sqs:ListQueueTags"],
                    "Resource": replicas})  # fmt: skip
        # Sweeping queues of replicas that died: list them (ListQueues has no resource scope) and their topic
        # subscriptions; the delete/unsubscribe grants stay limited to replica queues.
        out.append({"Sid": "FindStaleReplicas", "Effect": "Allow", "Action": "sqs:ListQueues", "Resource": "*"})
        out.append({"Sid": "ListReplicaSubscriptions", "Effect": "Allow", "Action": "sns:ListSubscriptionsByTopic",
                    "Resource": topic})  # fmt: skip
        out.append({"Sid": "SubscribeReplicaQueues", "Effect": "Allow", "Action": "sns:Subscribe", "Resource": topic,
                    "Condition": {"StringEquals": {"sns:Protocol": "sqs"},
                                  "StringLike": {"sns:Endpoint": replicas}}})  # fmt: skip
        # Unsubscribe addresses a subscription ARN (<topic>:<uuid>), unknown before the replica subscribes.
        out.append({"Sid": "UnsubscribeReplicaQueues", "Effect": "Allow",
                    "Action": ["sns:Unsubscribe", "sns:GetSubscriptionAttributes", "sns:SetSubscriptionAttributes"],
                    "Resource": f"{topic}:*"})  # fmt: skip
    if a.sync_subscription:
        out.append({"Sid": "SyncOwnSubscriptionFilter", "Effect": "Allow",
                    "Action": ["sns:ListSubscriptionsByTopic", "sns:GetSubscriptionAttributes",
                               "sns:SetSubscriptionAttributes"],
                    "Resource": [topic, f"{topic}:*"]})  # fmt: skip
    if a.watch_queues:
        prefix = topology.queue_arn(target.account, f"{target.namespace}-*")
        out.append({"Sid": "WatchPipelineQueues", "Effect": "Allow",
                    "Action": ["sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ListDeadLetterSourceQueues"],
                    "Resource": prefix})  # fmt: skip
        # ListQueues has no resource-level permissions (AWS requires "*"); it returns queue URLs only.
        out.append({"Sid": "ListQueues", "Effect": "Allow", "Action": "sqs:ListQueues", "Resource": "*"})
        out.append({"Sid": "PeekDeadLetters", "Effect": "Allow",
                    "Action": ["sqs:ReceiveMessage", "sqs:ChangeMessageVisibility"],
                    "Resource": topology.queue_arn(target.account, f"{target.namespace}-*-dlq")})  # fmt: skip
    return out


def _sagemaker(svc: ServiceDef, target: Target) -> list[Statement]:
    if not svc.access.sagemaker:
        return []
    # Job names start with the study id, not the namespace, so the scope is the account's training jobs.
    jobs = f"arn:aws:sagemaker:{target.region}:{target.account}:training-job/*"
    role = target.role_arn(target.sagemaker_role)
    return [
        {"Sid": "OwnTrainingJobs", "Effect": "Allow",
         "Action": ["sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob",
                    "sagemaker:AddTags"],
         "Resource": jobs},
        {"Sid": "ListTrainingJobs", "Effect": "Allow", "Action": "sagemaker:ListTrainingJobs", "Resource": "*"},
        {"Sid": "PassTrainingRole", "Effect": "Allow", "Action": "iam:PassRole", "Resource": role,
         "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}},
    ]  # fmt: skip


def task_policy(name: str, target: Target) -> dict[str, Any]:
    """What the service's code may do."""
    svc = service(name)
    return _doc(_messaging(svc, target) + _s3(svc, target) + _sagemaker(svc, target))


def execution_policy(name: str, target: Target) -> dict[str, Any]:
    """What ECS needs to start the service's task: its image, its log group, its secrets."""
    svc = service(name)
    statements: list[Statement] = [
        {"Sid": "EcrToken", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
        {"Sid": "PullOwnImage", "Effect": "Allow",
         "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
         "Resource": target.repository_arn(svc.name)},
        {"Sid": "WriteOwnLogs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": f"{target.log_group_arn(svc.name)}:*"},
    ]  # fmt: skip
    if svc.secrets:
        statements.append({"Sid": "ReadOwnSecrets", "Effect": "Allow", "Action": "ssm:GetParameters",
                           "Resource": [target.parameter_arn(svc.name, v) for v in svc.secrets]})  # fmt: skip
    return _doc(statements)


def trust_policy(target: Target) -> dict[str, Any]:
    """Only ECS tasks of this account may assume the roles."""
    return _doc(
        [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": target.account}},
            }
        ]
    )


def roles(name: str, target: Target) -> dict[str, dict[str, Any]]:
    """Role name -> inline policy document, for one service."""
    return {
        target.task_role(name): task_policy(name, target),
        target.execution_role(name): execution_policy(name, target),
    }


def apply(names: list[str], target: Target, iam: Any | None = None) -> list[str]:
    """Create or update the roles of these services and their inline policies; returns the role names."""
    iam = iam or boto3.client("iam")
    trust = json.dumps(trust_policy(target))
    done = []
    for name in names:
        for role, policy in roles(name, target).items():
            try:
                iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust, Tags=[{"Key": "service", "Value": name}])
            except iam.exceptions.EntityAlreadyExistsException:
                iam.update_assume_role_policy(RoleName=role, PolicyDocument=trust)
            iam.put_role_policy(RoleName=role, PolicyName=role, PolicyDocument=json.dumps(policy))
            done.append(role)
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ecs.iam", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["render", "apply"])
    parser.add_argument("services", nargs="*", help=f"default: all of {', '.join(ORDER)}")
    args = parser.parse_args(argv)
    names = [service(n).name for n in args.services] or list(ORDER)
    account = boto3.client("sts").get_caller_identity()["Account"]
    target = Target.from_env(account)
    if args.command == "render":
        sys.stdout.write(json.dumps({n: roles(n, target) for n in names}, indent=2) + "\n")
    else:
        for role in apply(names, target):
            sys.stdout.write(f"role {role} up to date\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
