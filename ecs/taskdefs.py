"""ECS task definitions (Fargate) rendered from the service table, checked against the ECS API's own shapes.

`render(service, target, image)` returns the exact `RegisterTaskDefinition` request; `validate()` runs it through
botocore's parameter validator with the ECS service model, so a wrong key or type fails here and in the tests, not
half-way through a deploy. `python -m ecs.taskdefs <service> --image <uri> --account <id>` prints one.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import botocore.session
from botocore.validate import ParamValidator

from ecs.services import ORDER, SERVICES, ServiceDef, service
from ecs.target import Target
from shared.settings import SERVICE_PORTS

# Fargate's valid (cpu, memory MiB) combinations, from the ECS documentation.
FARGATE_MEMORY: dict[int, range] = {
    256: range(512, 2049, 512),
    512: range(1024, 4097, 1024),
    1024: range(2048, 8193, 1024),
    2048: range(4096, 16385, 1024),
    4096: range(8192, 30721, 1024),
    8192: range(16384, 61441, 4096),
    16384: range(32768, 122881, 8192),
}
STOP_TIMEOUT = 40  # seconds; above uvicorn's 30 s graceful shutdown so in-flight work drains before SIGKILL


def check_size(svc: ServiceDef) -> None:
    if svc.memory not in FARGATE_MEMORY.get(svc.cpu, range(0)):
        raise ValueError(f"{svc.name}: cpu {svc.cpu} / memory {svc.memory} is not a Fargate size")


def health_command(port: int) -> list[str]:
    """The same probe as the image's HEALTHCHECK (ECS ignores the image's own)."""
    probe = f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}/healthz', timeout=4)"
    return ["CMD", "python", "-c", probe]


def environment(svc: ServiceDef, target: Target, image: str) -> dict[str, str]:
    env = {
        "AWS_REGION": target.region,
        "MLOPS_NAMESPACE": target.namespace,
        "MLOPS_HOME_ENV": target.home_env,
        "MLOPS_LOG_FORMAT": "json",
        "GIT_SHA": image.rsplit(":", 1)[-1] if ":" in image.rsplit("/", 1)[-1] else "unknown",
        "PORT": str(svc.port),
        "HOST": "0.0.0.0",
    }
    env.update({f"MLOPS_{name.upper()}_URL": target.url(name, port) for name, port in SERVICE_PORTS.items()})
    if svc.access.sagemaker:
        # The role the task policy may pass to SageMaker (ecs.iam): the two must name the same role.
        env["TRAINER_SAGEMAKER_ROLE_ARN"] = target.role_arn(target.sagemaker_role)
    env.update(svc.environment)
    return env


def render(name: str, target: Target, image: str) -> dict[str, Any]:
    """The RegisterTaskDefinition request of one service."""
    svc = service(name)
    check_size(svc)
    container: dict[str, Any] = {
        "name": svc.name,
        "image": image,
        "essential": True,
        "user": "10001:10001",
        "portMappings": [{"containerPort": svc.port, "protocol": "tcp", "name": svc.name, "appProtocol": "http"}],
        "environment": [{"name": k, "value": v} for k, v in sorted(environment(svc, target, image).items())],
        "secrets": [{"name": var, "valueFrom": target.parameter_arn(svc.name, var)} for var in svc.secrets],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": target.log_group(svc.name),
                "awslogs-region": target.region,
                "awslogs-stream-prefix": svc.name,
                # A slow CloudWatch must not block the service's stdout (and so its event loop).
                "mode": "non-blocking",
                "max-buffer-size": "4m",
            },
        },
        "healthCheck": {
            "command": health_command(svc.port),
            "interval": 15,
            "timeout": 5,
            "retries": 3,
            "startPeriod": min(svc.start_period, 300),
        },
        "stopTimeout": STOP_TIMEOUT,
        "ulimits": [{"name": "nofile", "softLimit": 65536, "hardLimit": 65536}],
    }
    request: dict[str, Any] = {
        "family": target.family(svc.name),
        "taskRoleArn": target.role_arn(target.task_role(svc.name)),
        "executionRoleArn": target.role_arn(target.execution_role(svc.name)),
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": str(svc.cpu),
        "memory": str(svc.memory),
        "runtimePlatform": {"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"},
        "containerDefinitions": [container],
        "tags": [{"key": "service", "value": svc.name}, {"key": "namespace", "value": target.namespace}],
    }
    if svc.ephemeral_gib > 20:
        request["ephemeralStorage"] = {"sizeInGiB": svc.ephemeral_gib}
    return request


def validate(request: dict[str, Any], operation: str = "RegisterTaskDefinition") -> None:
    """Raise ValueError when `request` does not fit the ECS API's input shape (botocore's service model)."""
    model = botocore.session.get_session().get_service_model("ecs")
    report = ParamValidator().validate(request, model.operation_model(operation).input_shape)
    if report.has_errors():
        raise ValueError(report.generate_report())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ecs.taskdefs", description="Print a service's task definition.")
    parser.add_argument("service", choices=ORDER)
    parser.add_argument("--image", required=True)
    parser.add_argument("--account", default="123456789012")
    args = parser.parse_args(argv)
    request = render(args.service, Target.from_env(args.account), args.image)
    validate(request)
    sys.stdout.write(json.dumps(request, indent=2) + "\n")
    return 0


__all__ = ["SERVICES", "render", "validate"]

if __name__ == "__main__":
    sys.exit(main())
