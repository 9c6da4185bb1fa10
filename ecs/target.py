"""Where a deployment goes: account, region, namespace, cluster and the names derived from them.

The names of AWS resources that the deployment owns (roles, log groups, SSM parameters, ECS families) are built here
once, like `shared.topology` does for the event resources, so the task definitions, the IAM policies and the alarms
can never disagree about a name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from shared.settings import CommonSettings
from shared.topology import Topology


@dataclass(frozen=True)
class Target:
    """One deployment of the platform: an AWS account and region, and the namespace of its resources."""

    account: str
    region: str
    namespace: str = "mlops"
    home_env: str = "dev"
    cluster: str | None = None
    # Private DNS of the services (ECS Service Connect / Cloud Map namespace): http://<service>.<domain>:<port>.
    discovery_domain: str | None = None
    log_retention_days: int = 30
    alarm_topic_arn: str | None = None  # where alarms notify (an ops SNS topic); none: alarms only change state

    @classmethod
    def from_env(cls, account: str, **overrides: Any) -> Target:
        """Defaults from the same environment the services read (MLOPS_*, AWS_REGION) plus ECS_* for the cluster."""
        common = CommonSettings()
        values: dict[str, Any] = {
            "account": account,
            "region": common.aws_region,
            "namespace": common.namespace,
            "home_env": common.home_env,
            "cluster": os.environ.get("ECS_CLUSTER"),
            "discovery_domain": os.environ.get("ECS_DISCOVERY_DOMAIN"),
            "alarm_topic_arn": os.environ.get("MLOPS_ALARM_TOPIC_ARN"),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @property
    def cluster_name(self) -> str:
        return self.cluster or self.namespace

    @property
    def domain(self) -> str:
        return self.discovery_domain or f"{self.namespace}.internal"

    def topology(self) -> Topology:
        return Topology(CommonSettings(namespace=self.namespace, home_env=self.home_env, aws_region=self.region))

    def family(self, service: str) -> str:
        return f"{self.namespace}-{service}"

    def ecs_service(self, service: str) -> str:
        return f"{self.namespace}-{service}"

    def task_role(self, service: str) -> str:
        return f"{self.namespace}-{service}-task"

    def execution_role(self, service: str) -> str:
        return f"{self.namespace}-{service}-execution"

    @property
    def sagemaker_role(self) -> str:
        """The role SageMaker training jobs run as (the trainer passes it; it reads processed/, writes experiments/)."""
        return f"{self.namespace}-sagemaker-training"

    def role_arn(self, name: str) -> str:
        return f"arn:aws:iam::{self.account}:role/{name}"

    def log_group(self, service: str) -> str:
        return f"/ecs/{self.namespace}/{service}"

    def log_group_arn(self, service: str) -> str:
        return f"arn:aws:logs:{self.region}:{self.account}:log-group:{self.log_group(service)}"

    def parameter(self, service: str, variable: str) -> str:
        return f"/{self.namespace}/{service}/{variable}"

    def parameter_arn(self, service: str, variable: str) -> str:
        return f"arn:aws:ssm:{self.region}:{self.account}:parameter{self.parameter(service, variable)}"

    def repository(self, service: str) -> str:
        """The ECR repository of a service's image."""
        return f"{self.namespace}/{service}"

    def repository_arn(self, service: str) -> str:
        return f"arn:aws:ecr:{self.region}:{self.account}:repository/{self.repository(service)}"

    def url(self, service: str, port: int) -> str:
        return f"http://{service}.{self.domain}:{port}"
