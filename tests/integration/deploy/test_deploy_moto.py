"""`python -m ecs.deploy` against the moto server's ECS API: first deploy, a new image reaching the service, and a
deployment that never settles being rolled back.

What moto really does (and so what these tests can and cannot show): register_task_definition echoes the request;
update_service(taskDefinition=..., forceNewDeployment=True) sets the service's taskDefinition and gives the PRIMARY
deployment a new id, but creates no second deployment; rolloutState is COMPLETED only when the moto server runs at
least desiredCount tasks (MOTO_ECS_SERVICE_RUNNING, read at create_service) and otherwise IN_PROGRESS for ever. So a
service of 3 tasks on this server is a deployment that never becomes stable: the tool must time out and roll back.
In moto the rollback cannot become stable either (same service, same frozen state): the tool then reports FAILED,
with the service pointing at its previous task definition and the new revision deregistered. The verdicts on AWS
shapes (FAILED rollout, circuit-breaker rollback, draining old deployments) are covered in tests/unit/deploy.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3
import pytest

from ecs import deploy, taskdefs
from ecs.target import Target

pytestmark = [pytest.mark.integration, pytest.mark.no_localstack]
REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com/{ns}/{service}"


def client(name: str) -> Any:
    return boto3.client(name, region_name="us-east-1")


@pytest.fixture
def network(on_moto: str) -> dict[str, str]:
    ec2 = client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.1.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName=f"sg-{uuid.uuid4().hex[:6]}", Description="tasks", VpcId=vpc)["GroupId"]
    return {"subnet": subnet, "group": group}


@pytest.fixture
def cluster(on_moto: str, monkeypatch: pytest.MonkeyPatch) -> str:
    namespace = "d" + uuid.uuid4().hex[:8]
    monkeypatch.setenv("MLOPS_NAMESPACE", namespace)
    client("ecs").create_cluster(clusterName=namespace)
    return namespace


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict[str, Any]]]:
    code = deploy.main([*argv, "--poll", "0.05"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    return code, lines


def describe(cluster: str, service: str) -> dict[str, Any]:
    return client("ecs").describe_services(cluster=cluster, services=[f"{cluster}-{service}"])["services"][0]


def image(cluster: str, service: str, tag: str) -> str:
    return REPO.format(ns=cluster, service=service) + f":{tag}"


def create_args(network: dict[str, str]) -> list[str]:
    return ["--create", "--subnets", network["subnet"], "--security-groups", network["group"]]


def test_first_deploy_creates_the_service_and_waits_for_it(
    cluster: str, network: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines = run(["ingest", "--image", image(cluster, "ingest", "v1"), "--timeout", "10", *create_args(network)],
                      capsys)  # fmt: skip
    assert code == deploy.Exit.DEPLOYED, lines
    svc = describe(cluster, "ingest")
    assert svc["taskDefinition"].endswith(f":task-definition/{cluster}-ingest:1")
    registered = client("ecs").describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"]
    container = registered["containerDefinitions"][0]
    assert container["image"] == image(cluster, "ingest", "v1")
    assert {s["name"] for s in container["secrets"]} == {"MLOPS_DATABASE_URL"}
    assert container["logConfiguration"]["options"]["awslogs-group"] == f"/ecs/{cluster}/ingest"
    assert [line["step"] for line in lines] == ["registered", "created", "progress", "deployed"]


def test_a_new_image_reaches_the_running_service(
    cluster: str, network: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["prep", "--image", image(cluster, "prep", "v1"), *create_args(network)], capsys)[0] == 0
    first = describe(cluster, "prep")["deployments"][0]["id"]
    code, lines = run(["prep", "--image", image(cluster, "prep", "v2"), "--timeout", "10"], capsys)
    assert code == deploy.Exit.DEPLOYED, lines
    svc = describe(cluster, "prep")
    assert svc["taskDefinition"].endswith(f"{cluster}-prep:2")
    assert client("ecs").describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"][
        "containerDefinitions"
    ][0]["image"] == image(cluster, "prep", "v2")
    updated = next(line for line in lines if line["step"] == "updated")
    assert updated["deployment"] != first, "the update started a new deployment (a new id)"


def test_a_deployment_that_never_settles_is_rolled_back(
    cluster: str, network: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    # Arrange a running service of 3 tasks at revision 1, more than this moto server will ever run.
    ecs = client("ecs")
    target = Target.from_env("123456789012")
    first = ecs.register_task_definition(**taskdefs.render("notifier", target, image(cluster, "notifier", "v1")))
    first_arn = first["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(
        cluster=cluster, serviceName=f"{cluster}-notifier", taskDefinition=first_arn, desiredCount=3,
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": [network["subnet"]],
                                                      "securityGroups": [network["group"]]}},
    )  # fmt: skip
    code, lines = run(["notifier", "--image", image(cluster, "notifier", "v2"), "--timeout", "1"], capsys)
    steps = [line["step"] for line in lines]
    assert steps[:2] == ["registered", "updated"] and "unstable" in steps and steps[-1] == "rollback"
    rollback = lines[-1]
    assert rollback["task_definition"] == first_arn
    # moto keeps the service IN_PROGRESS, so the rollback is not confirmed stable either: FAILED, not ROLLED_BACK.
    assert code == deploy.Exit.FAILED and rollback["state"] == "failed"
    assert describe(cluster, "notifier")["taskDefinition"] == first_arn, "the service points back at revision 1"
    failed = ecs.describe_task_definition(taskDefinition=rollback["deregistered"])["taskDefinition"]
    assert failed["revision"] == 2 and failed["status"] == "INACTIVE"


def test_a_missing_service_changes_nothing(cluster: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = run(["monitor", "--image", image(cluster, "monitor", "v1")], capsys)
    assert code == deploy.Exit.USAGE and "not found" in lines[-1]["detail"]
    families = client("ecs").list_task_definitions(familyPrefix=f"{cluster}-monitor")["taskDefinitionArns"]
    assert families == []


def test_a_first_deploy_that_fails_has_nothing_to_roll_back(
    cluster: str, network: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from ecs import services

    # inference with 3 replicas: more than the server runs, so its first deployment never completes.
    bigger = services.ServiceDef(**{**services.SERVICES["inference"].__dict__, "desired_count": 3})
    monkeypatch.setitem(services.SERVICES, "inference", bigger)
    code, lines = run(["inference", "--image", image(cluster, "inference", "v1"), "--timeout", "0.5",
                       *create_args(network)], capsys)  # fmt: skip
    assert code == deploy.Exit.FAILED
    assert lines[-1] == {"service": "inference", "step": "rollback",
                         "result": "nothing to roll back to (first deployment)"}  # fmt: skip
