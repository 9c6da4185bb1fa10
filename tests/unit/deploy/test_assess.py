"""The deploy tool's verdict on one DescribeServices answer, on the shapes AWS ECS returns during a rolling update.

These shapes follow the ECS API reference (Deployment: id, status PRIMARY/ACTIVE, taskDefinition, desiredCount,
runningCount, failedTasks, rolloutState IN_PROGRESS/COMPLETED/FAILED, rolloutStateReason). moto cannot produce most
of them (see tests/integration/deploy), hence these cases here.
"""

from __future__ import annotations

from typing import Any

from ecs.deploy import assess

OLD = "arn:aws:ecs:eu-west-1:123456789012:task-definition/acme-prep:7"
NEW = "arn:aws:ecs:eu-west-1:123456789012:task-definition/acme-prep:8"


def deployment(id_: str, status: str, td: str, running: int, rollout: str | None, failed: int = 0) -> dict[str, Any]:
    d: dict[str, Any] = {"id": id_, "status": status, "taskDefinition": td, "desiredCount": 2,
                         "runningCount": running, "failedTasks": failed}  # fmt: skip
    if rollout:
        d["rolloutState"] = rollout
        d["rolloutStateReason"] = f"ECS deployment {id_} {rollout.lower()}."
    return d


def service(td: str, *deployments: dict[str, Any]) -> dict[str, Any]:
    return {"taskDefinition": td, "deployments": list(deployments), "desiredCount": 2}


def test_rolling_update_in_progress_while_old_tasks_drain() -> None:
    svc = service(NEW, deployment("ecs-svc/new", "PRIMARY", NEW, 2, "IN_PROGRESS"),
                  deployment("ecs-svc/old", "ACTIVE", OLD, 2, "COMPLETED"))  # fmt: skip
    assert assess(svc, NEW, "ecs-svc/new", 3).state == "in_progress"


def test_completed_rollout_with_old_tasks_gone_is_stable() -> None:
    svc = service(NEW, deployment("ecs-svc/new", "PRIMARY", NEW, 2, "COMPLETED"))
    assert assess(svc, NEW, "ecs-svc/new", 3).state == "stable"


def test_completed_rollout_still_draining_is_not_stable_yet() -> None:
    svc = service(NEW, deployment("ecs-svc/new", "PRIMARY", NEW, 2, "COMPLETED"),
                  deployment("ecs-svc/old", "ACTIVE", OLD, 1, "COMPLETED"))  # fmt: skip
    verdict = assess(svc, NEW, "ecs-svc/new", 3)
    assert verdict.state == "in_progress" and "draining" in verdict.reason


def test_failed_rollout_fails_with_the_reason() -> None:
    svc = service(NEW, deployment("ecs-svc/new", "PRIMARY", NEW, 0, "FAILED"))
    verdict = assess(svc, NEW, "ecs-svc/new", 3)
    assert verdict.state == "failed" and "ecs-svc/new failed" in verdict.reason


def test_circuit_breaker_rollback_is_a_failure() -> None:
    # ECS rolled back on its own: a new PRIMARY deployment of the old revision, ours left behind.
    svc = service(OLD, deployment("ecs-svc/back", "PRIMARY", OLD, 2, "IN_PROGRESS"),
                  deployment("ecs-svc/new", "ACTIVE", NEW, 0, "FAILED"))  # fmt: skip
    verdict = assess(svc, NEW, "ecs-svc/new", 3)
    assert verdict.state == "failed" and "rolled the deployment back" in verdict.reason


def test_tasks_that_keep_failing_fail_the_deployment() -> None:
    svc = service(NEW, deployment("ecs-svc/new", "PRIMARY", NEW, 0, "IN_PROGRESS", failed=3))
    assert assess(svc, NEW, "ecs-svc/new", 3).state == "failed"
    assert assess(svc, NEW, "ecs-svc/new", 4).state == "in_progress"


def test_a_deployment_replaced_by_someone_else_is_a_failure() -> None:
    svc = service(NEW, deployment("ecs-svc/other", "PRIMARY", NEW, 2, "COMPLETED"))
    assert assess(svc, NEW, "ecs-svc/new", 3).state == "failed"


def test_without_rollout_state_running_tasks_decide() -> None:
    # Services on the CODE_DEPLOY/EXTERNAL controllers or older APIs report no rolloutState.
    assert assess(service(NEW, deployment("d", "PRIMARY", NEW, 2, None)), NEW, "d", 3).state == "stable"
    assert assess(service(NEW, deployment("d", "PRIMARY", NEW, 1, None)), NEW, "d", 3).state == "in_progress"
