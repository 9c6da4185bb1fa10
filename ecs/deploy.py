"""Deploy one service's image to ECS: render, register, update, wait until stable, roll back when it is not.

    python -m ecs.deploy <service> --image <uri> [--cluster C] [--timeout 900]
        [--create --subnets .. --security-groups ..]

Steps: render the task definition from the service table (`ecs.taskdefs`) and check it against the ECS API shapes;
register it; point the ECS service at it with a new deployment; follow that deployment until it is stable; when it
fails (ECS marks it FAILED, tasks keep failing, ECS's own circuit breaker already rolled it back) or does not settle
within the timeout, point the service back at the task definition it ran before, wait for that, and deregister the
failed revision. Every step is one JSON line on stdout; the exit code says how it ended (see `Exit`).

When is a deployment stable? The service's task definition is the new one, and the deployment our update created
(known by its id, which a new deployment always gets) is still the PRIMARY one, its rollout is COMPLETED (when ECS
reports a rollout state) with as many tasks running as desired, and no older deployment still runs tasks. The
deployment is tracked by id rather than by its taskDefinition field on purpose: it is correct on AWS, and it is also
what the moto server lets a test observe (moto's update_service replaces the PRIMARY deployment's id but not its
taskDefinition field; see tests/fixtures/aws/EMULATORS.md).
"""

from __future__ import annotations

import argparse
import enum
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3

from ecs.services import ORDER, service
from ecs.target import Target
from ecs.taskdefs import render, validate


class Exit(enum.IntEnum):
    DEPLOYED = 0
    ROLLED_BACK = 1  # the new image failed; the service runs its previous task definition again, stable
    FAILED = 2  # failed, and the rollback did not settle either, or there was nothing to roll back to
    USAGE = 3  # bad arguments or a service that does not exist (nothing was changed)


@dataclass(frozen=True)
class Verdict:
    state: str  # "stable" | "in_progress" | "failed"
    reason: str


def _primary(deployments: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((d for d in deployments if d.get("status") == "PRIMARY"), None)


def assess(svc: dict[str, Any], task_definition: str, deployment_id: str | None, max_failed_tasks: int) -> Verdict:
    """Where a deployment of `task_definition` stands, from one DescribeServices answer."""
    if svc.get("taskDefinition") != task_definition:
        return Verdict("failed", f"the service runs {svc.get('taskDefinition')} (ECS rolled the deployment back?)")
    deployments = svc.get("deployments") or []
    ours = next((d for d in deployments if d.get("id") == deployment_id), None) if deployment_id else None
    ours = ours or (None if deployment_id else _primary(deployments))
    if ours is None:
        return Verdict("failed", f"deployment {deployment_id} is gone (replaced by another deployment)")
    if ours.get("status") != "PRIMARY":
        return Verdict("failed", f"deployment {ours.get('id')} is no longer the primary one ({ours.get('status')})")
    rollout = ours.get("rolloutState")
    if rollout == "FAILED":
        return Verdict("failed", f"ECS: {ours.get('rolloutStateReason') or 'rollout failed'}")
    failed = int(ours.get("failedTasks") or 0)
    if failed >= max_failed_tasks:
        return Verdict("failed", f"{failed} tasks of the new deployment failed to start or stay healthy")
    running, desired = int(ours.get("runningCount") or 0), int(ours.get("desiredCount") or 0)
    draining = [d.get("id") for d in deployments if d is not ours and int(d.get("runningCount") or 0) > 0]
    progress = f"rollout {rollout or 'n/a'}, running {running}/{desired}, failed tasks {failed}"
    if rollout in (None, "COMPLETED") and running >= desired and not draining:
        return Verdict("stable", progress)
    return Verdict("in_progress", progress + (f", draining {len(draining)} old deployment(s)" if draining else ""))


@dataclass
class Deployer:
    """The deploy steps against one cluster; `ecs` is a boto3 ECS client, `report` receives every step."""

    ecs: Any
    cluster: str
    report: Callable[[dict[str, Any]], None]
    poll_seconds: float = 10.0
    max_failed_tasks: int = 3

    def describe(self, name: str) -> dict[str, Any] | None:
        answer = self.ecs.describe_services(cluster=self.cluster, services=[name])
        found = [s for s in answer.get("services", []) if s.get("status") != "INACTIVE"]
        return found[0] if found else None

    def register(self, request: dict[str, Any]) -> str:
        validate(request)
        arn = str(self.ecs.register_task_definition(**request)["taskDefinition"]["taskDefinitionArn"])
        self.report({"step": "registered", "task_definition": arn})
        return arn

    def point(self, name: str, task_definition: str) -> str | None:
        """Start a deployment of `task_definition`; returns the id of the deployment it created."""
        answer = self.ecs.update_service(
            cluster=self.cluster, service=name, taskDefinition=task_definition, forceNewDeployment=True
        )
        primary = _primary(answer["service"].get("deployments") or [])
        deployment_id = primary.get("id") if primary else None
        self.report({"step": "updated", "service": name, "task_definition": task_definition,
                     "deployment": deployment_id})  # fmt: skip
        return deployment_id

    def wait(self, name: str, task_definition: str, deployment_id: str | None, timeout: float) -> Verdict:
        deadline = time.monotonic() + timeout
        last = ""
        while True:
            svc = self.describe(name)
            verdict = (
                assess(svc, task_definition, deployment_id, self.max_failed_tasks)
                if svc
                else Verdict("failed", "the service disappeared")
            )
            if verdict.reason != last:
                self.report({"step": "progress", "state": verdict.state, "detail": verdict.reason})
                last = verdict.reason
            if verdict.state != "in_progress":
                return verdict
            if time.monotonic() >= deadline:
                return Verdict("failed", f"not stable within {timeout:.0f}s ({verdict.reason})")
            time.sleep(self.poll_seconds)

    def rollback(self, name: str, failed: str, previous: str | None, timeout: float) -> Exit:
        if previous is None:
            self.report({"step": "rollback", "result": "nothing to roll back to (first deployment)"})
            return Exit.FAILED
        svc = self.describe(name)
        # ECS's circuit breaker may already have gone back: then only wait, a second deployment would restart tasks.
        deployment_id = None if svc and svc.get("taskDefinition") == previous else self.point(name, previous)
        verdict = self.wait(name, previous, deployment_id, timeout)
        self.ecs.deregister_task_definition(taskDefinition=failed)
        self.report({"step": "rollback", "task_definition": previous, "state": verdict.state,
                     "detail": verdict.reason, "deregistered": failed})  # fmt: skip
        return Exit.ROLLED_BACK if verdict.state == "stable" else Exit.FAILED

    def deploy(self, name: str, request: dict[str, Any], timeout: float, create: dict[str, Any] | None) -> Exit:
        current = self.describe(name)
        if current is None and create is None:
            self.report({"step": "error", "detail": f"ECS service {name} not found in cluster {self.cluster} "
                                                    "(use --create with --subnets and --security-groups)"})  # fmt: skip
            return Exit.USAGE
        previous = current.get("taskDefinition") if current else None
        arn = self.register(request)
        if current is None:
            assert create is not None
            answer = self.ecs.create_service(cluster=self.cluster, serviceName=name, taskDefinition=arn, **create)
            primary = _primary(answer["service"].get("deployments") or [])
            deployment_id = primary.get("id") if primary else None
            self.report({"step": "created", "service": name, "deployment": deployment_id})
        else:
            deployment_id = self.point(name, arn)
        verdict = self.wait(name, arn, deployment_id, timeout)
        if verdict.state == "stable":
            self.report({"step": "deployed", "task_definition": arn, "detail": verdict.reason})
            return Exit.DEPLOYED
        self.report({"step": "unstable", "task_definition": arn, "detail": verdict.reason})
        return self.rollback(name, arn, previous, timeout)


def create_options(svc_name: str, subnets: list[str], groups: list[str], public_ip: bool) -> dict[str, Any]:
    """CreateService arguments for a first deployment (Fargate, awsvpc, ECS's circuit breaker with rollback)."""
    return {
        "desiredCount": service(svc_name).desired_count,
        "launchType": "FARGATE",
        "networkConfiguration": {
            "awsvpcConfiguration": {
                "subnets": subnets,
                "securityGroups": groups,
                "assignPublicIp": "ENABLED" if public_ip else "DISABLED",
            }
        },
        "deploymentConfiguration": {
            "deploymentCircuitBreaker": {"enable": True, "rollback": True},
            "maximumPercent": 200,
            "minimumHealthyPercent": 100,
        },
        "healthCheckGracePeriodSeconds": 0,
        "enableExecuteCommand": False,
        "propagateTags": "TASK_DEFINITION",
    }


def _split(value: str | None) -> list[str]:
    return [v for v in (value or "").split(",") if v]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ecs.deploy", description=__doc__.split("\n")[0])
    parser.add_argument("service", help=f"one of {', '.join(ORDER)}")
    parser.add_argument(
        "--image", required=True, help="image URI, e.g. <account>.dkr.ecr.<region>.amazonaws.com/…:<sha>"
    )
    parser.add_argument("--cluster", help="ECS cluster (default $ECS_CLUSTER, else the namespace)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for stability (each phase)")
    parser.add_argument("--poll", type=float, default=10, help="seconds between DescribeServices calls")
    parser.add_argument("--max-failed-tasks", type=int, default=3, help="failed tasks that fail the deployment")
    parser.add_argument("--create", action="store_true", help="create the ECS service if it does not exist")
    parser.add_argument("--subnets", help="comma-separated subnet ids (with --create; default $ECS_SUBNETS)")
    parser.add_argument("--security-groups", help="comma-separated security group ids (default $ECS_SECURITY_GROUPS)")
    parser.add_argument("--public-ip", action="store_true", help="assign a public IP (subnets without a NAT)")
    parser.add_argument("--dry-run", action="store_true", help="print the task definition, change nothing")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, ecs: Any | None = None) -> int:
    args = parse_args(argv)
    name = service(args.service).name
    account = boto3.client("sts").get_caller_identity()["Account"]
    target = Target.from_env(account, cluster=args.cluster)
    request = render(name, target, args.image)
    validate(request)

    def report(line: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps({"service": name, **line}) + "\n")
        sys.stdout.flush()

    if args.dry_run:
        sys.stdout.write(json.dumps(request, indent=2) + "\n")
        return Exit.DEPLOYED
    create = None
    if args.create:
        subnets = _split(args.subnets or os.environ.get("ECS_SUBNETS"))
        groups = _split(args.security_groups or os.environ.get("ECS_SECURITY_GROUPS"))
        if not subnets or not groups:
            report({"step": "error", "detail": "--create needs --subnets and --security-groups"})
            return Exit.USAGE
        create = create_options(name, subnets, groups, args.public_ip)
    deployer = Deployer(ecs or boto3.client("ecs"), target.cluster_name, report, args.poll, args.max_failed_tasks)
    return int(deployer.deploy(target.ecs_service(name), request, args.timeout, create))


if __name__ == "__main__":
    sys.exit(main())
