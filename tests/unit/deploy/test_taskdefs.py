"""Task definitions, IAM policies and alarms rendered from the table, checked against the AWS API shapes."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from ecs import iam, observability, taskdefs
from ecs.services import ORDER, SERVICES
from ecs.target import Target

ROOT = Path(__file__).resolve().parents[3]
TARGET = Target(account="123456789012", region="eu-west-1", namespace="acme")
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/acme/{name}:0123abc"


@pytest.mark.parametrize("name", ORDER)
def test_task_definition_fits_the_ecs_api(name: str) -> None:
    request = taskdefs.render(name, TARGET, IMAGE.format(name=name))
    taskdefs.validate(request)  # botocore's RegisterTaskDefinition input shape
    svc, container = SERVICES[name], request["containerDefinitions"][0]
    assert request["requiresCompatibilities"] == ["FARGATE"] and request["networkMode"] == "awsvpc"
    assert (request["cpu"], request["memory"]) == (str(svc.cpu), str(svc.memory))
    assert request["taskRoleArn"].endswith(f"role/acme-{name}-task")
    assert request["executionRoleArn"].endswith(f"role/acme-{name}-execution")
    assert container["logConfiguration"]["logDriver"] == "awslogs"
    assert container["logConfiguration"]["options"]["awslogs-group"] == f"/ecs/acme/{name}"
    assert "/healthz" in " ".join(container["healthCheck"]["command"])
    assert container["portMappings"][0]["containerPort"] == svc.port
    env = {e["name"]: e["value"] for e in container["environment"]}
    assert env["GIT_SHA"] == "0123abc" and env["MLOPS_NAMESPACE"] == "acme"
    secrets = {s["name"]: s["valueFrom"] for s in container["secrets"]}
    assert set(secrets) == set(svc.secrets)
    assert all(
        v.startswith("arn:aws:ssm:eu-west-1:123456789012:parameter/acme/" + name + "/") for v in secrets.values()
    )
    assert not set(secrets) & set(env), "a secret is never also a plain environment variable"


def test_the_validator_catches_a_wrong_shape() -> None:
    request = taskdefs.render("prep", TARGET, "img:1")
    request["containerDefinitions"][0]["healthCheck"]["interval"] = "15s"
    with pytest.raises(ValueError, match="interval"):
        taskdefs.validate(request)


@pytest.mark.parametrize("name", ORDER)
def test_sizes_are_valid_fargate_sizes(name: str) -> None:
    taskdefs.check_size(SERVICES[name])


def test_the_secrets_are_what_the_notifier_treats_as_secrets() -> None:
    assert {"NOTIFIER_TEAMS_WEBHOOK_URL", "NOTIFIER_SMTP_PASSWORD"} <= set(SERVICES["notifier"].secrets)
    assert "REGISTRY_TOKENS" in SERVICES["registry"].secrets and "WANDB_API_KEY" in SERVICES["trainer"].secrets


@pytest.mark.parametrize("name", ORDER)
def test_configured_variables_are_read_by_the_service(name: str) -> None:
    """Every <NAME>_* variable the table sets is a field of the service's settings class (no dead configuration)."""
    svc = SERVICES[name]
    prefix = f"{name.upper()}_"
    variables = [v for v in (*svc.secrets, *svc.environment) if v.startswith(prefix)]
    if not (ROOT / "services" / name / "settings.py").exists():
        pytest.skip(f"services/{name}/settings.py does not exist yet")
    module = importlib.import_module(f"services.{name}.settings")
    fields: set[str] = set()
    for value in vars(module).values():
        if isinstance(value, type) and getattr(value, "model_config", {}).get("env_prefix") == prefix:
            fields |= {f.upper() for f in value.model_fields}
    assert fields, f"no {prefix}* settings class in services/{name}/settings.py"
    assert {v.removeprefix(prefix) for v in variables} <= fields


def _statements(policy: dict) -> list[dict]:
    return list(policy["Statement"])


def _resources(policy: dict, action: str) -> set[str]:
    out: set[str] = set()
    for st in _statements(policy):
        actions = [st["Action"]] if isinstance(st["Action"], str) else st["Action"]
        if action in actions:
            out |= {st["Resource"]} if isinstance(st["Resource"], str) else set(st["Resource"])
    return out


@pytest.mark.parametrize("name", ORDER)
def test_task_policy_is_scoped_to_the_topology(name: str) -> None:
    policy = iam.task_policy(name, TARGET)
    topic = "arn:aws:sns:eu-west-1:123456789012:acme-events"
    assert _resources(policy, "sns:Publish") == {topic}
    wildcard = {a for st in _statements(policy) if st["Resource"] == "*" for a in [st["Action"]]}
    assert wildcard <= {"sqs:ListQueues", "sagemaker:ListTrainingJobs"}, "no other action on every resource"
    receive = _resources(policy, "sqs:ReceiveMessage")
    own = f"arn:aws:sqs:eu-west-1:123456789012:acme-{name}"
    if name == "inference":
        assert receive == {own + "-*"}
    elif name == "monitor":
        assert receive == {own, "arn:aws:sqs:eu-west-1:123456789012:acme-*-dlq"}
    else:
        assert receive == {own}
    svc = SERVICES[name]
    written = _resources(policy, "s3:PutObject")
    assert written == {f"arn:aws:s3:::acme-dev/{p}*" for p in svc.access.s3_write} | {
        f"arn:aws:s3:::acme-{env}/{p}*" for env in ("dev", "staging", "prod") for p in svc.access.env_write
    }
    assert all(r.endswith("/*") and ("/raw/" not in r or name == "ingest") for r in written)


def test_only_the_registry_writes_to_other_environments() -> None:
    writers = {
        n for n in ORDER if any("acme-prod" in r for r in _resources(iam.task_policy(n, TARGET), "s3:PutObject"))
    }
    assert writers == {"registry"}


def test_special_powers_go_to_their_service_only() -> None:
    def has(name: str, action: str) -> bool:
        return bool(_resources(iam.task_policy(name, TARGET), action))

    assert [n for n in ORDER if has(n, "sqs:CreateQueue")] == ["inference"]
    assert [n for n in ORDER if has(n, "sns:Subscribe")] == ["inference"]
    assert [n for n in ORDER if has(n, "sagemaker:CreateTrainingJob")] == ["trainer"]
    assert [n for n in ORDER if has(n, "s3:DeleteObject")] == ["registry"]
    trainer = taskdefs.render("trainer", TARGET, "img:1")["containerDefinitions"][0]["environment"]
    passed = _resources(iam.task_policy("trainer", TARGET), "iam:PassRole")
    assert passed == {e["value"] for e in trainer if e["name"] == "TRAINER_SAGEMAKER_ROLE_ARN"}
    assert _resources(iam.task_policy("registry", TARGET), "s3:DeleteObject") == {
        f"arn:aws:s3:::acme-{env}/models/*" for env in ("dev", "staging", "prod")
    }
    assert sorted(n for n in ORDER if has(n, "sns:SetSubscriptionAttributes")) == ["inference", "notifier"]
    subscribe = next(s for s in _statements(iam.task_policy("inference", TARGET)) if s["Action"] == "sns:Subscribe")
    assert subscribe["Condition"]["StringLike"]["sns:Endpoint"].endswith(":acme-inference-*")


@pytest.mark.parametrize("name", ORDER)
def test_execution_policy_reads_only_its_own_secrets_image_and_logs(name: str) -> None:
    policy = iam.execution_policy(name, TARGET)
    assert _resources(policy, "ssm:GetParameters") == {TARGET.parameter_arn(name, v) for v in SERVICES[name].secrets}
    assert _resources(policy, "ecr:BatchGetImage") == {f"arn:aws:ecr:eu-west-1:123456789012:repository/acme/{name}"}
    assert _resources(policy, "logs:PutLogEvents") == {
        f"arn:aws:logs:eu-west-1:123456789012:log-group:/ecs/acme/{name}:*"
    }
    trust = iam.trust_policy(TARGET)["Statement"][0]
    assert trust["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
    assert json.dumps(policy).count('"Resource": "*"') == 1  # GetAuthorizationToken has no resource-level scope


def test_observability_plan_fits_the_apis_and_covers_every_service() -> None:
    plan = observability.plan(TARGET)
    observability.validate(plan)  # PutMetricFilter, PutMetricAlarm, PutQueryDefinition shapes
    names = {a["AlarmName"] for a in plan.alarms}
    for name in ORDER:
        assert f"acme-{name}-http-5xx" in names
        assert (f"acme-{name}-queue-age" in names) == (name != "inference")
        assert (f"acme-{name}-dlq-depth" in names) == (name != "inference")
    dlq = next(a for a in plan.alarms if a["AlarmName"] == "acme-prep-dlq-depth")
    assert dlq["Dimensions"] == [{"Name": "QueueName", "Value": "acme-prep-dlq"}] and dlq["Threshold"] == 0
    follow = next(q for q in plan.queries if q["name"] == "acme/follow-correlation-id")
    assert "correlation_id" in follow["queryString"] and len(follow["logGroupNames"]) == len(ORDER)
    assert all(f["filterPattern"] == "{ $.http_status >= 500 }" for f in plan.metric_filters)


def test_alarms_notify_the_ops_topic_when_one_is_given() -> None:
    topic = "arn:aws:sns:eu-west-1:123456789012:acme-ops"
    alarms = observability.plan(Target("123456789012", "eu-west-1", "acme", alarm_topic_arn=topic)).alarms
    assert all(a["AlarmActions"] == [topic] and a["ActionsEnabled"] for a in alarms)
    assert not any(a["ActionsEnabled"] for a in observability.plan(TARGET).alarms)
