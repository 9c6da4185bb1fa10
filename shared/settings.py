"""Settings common to every service, read once from the environment and validated at start-up.

AWS access is deliberately *not* configured here beyond the region: the standard credential chain and the standard
`AWS_ENDPOINT_URL` variable decide whether we talk to the moto server, LocalStack or real AWS, so nothing in a
service knows which of the three it runs on.
"""

from __future__ import annotations

import os
import re
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENVIRONMENTS = ("dev", "staging", "prod")
Environment = Literal["dev", "staging", "prod"]
_NAME = re.compile(r"^[a-z][a-z0-9-]{1,30}$")


class CommonSettings(BaseSettings):
    """Platform-wide settings (`MLOPS_*`). Every service reads the same ones."""

    model_config = SettingsConfigDict(env_prefix="MLOPS_", extra="ignore", frozen=True)

    namespace: str = Field("mlops", description="Prefix of every AWS resource name (buckets, topic, queues).")
    home_env: Environment = Field(
        "dev", description="Environment whose bucket receives raw data and runs the pipeline."
    )
    bucket: str | None = Field(None, description="Override of the home bucket name (default `<namespace>-<home_env>`).")
    env_buckets: dict[str, str] = Field(
        default_factory=dict, description="Override per environment: JSON map env -> bucket (may be another account's)."
    )
    topic_arn: str | None = Field(
        None, description="Override of the events topic ARN (default: derived from the name)."
    )
    data_dir: Path = Field(Path(".run/data"), description="Local state (SQLite files, scratch space).")
    database_url: str | None = Field(
        None, description="SQLAlchemy async URL for service state; default SQLite in data_dir (one file per service)."
    )
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"
    code_version: str = Field(default_factory=lambda: os.environ.get("GIT_SHA", "dev"))
    public_base_url: str = Field("http://127.0.0.1", description="Base of links in alerts (dashboard, reports).")
    drift_schedule: str = Field(
        "rate(14 days)", description="EventBridge Scheduler expression of drift checks: rate(...) or cron(...)."
    )
    aws_region: str = Field(
        default_factory=lambda: os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    )

    @field_validator("namespace")
    @classmethod
    def _valid_namespace(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("namespace must be 2-31 chars of lowercase letters, digits and dashes")
        return value

    @model_validator(mode="after")
    def _env_buckets_known(self) -> CommonSettings:
        unknown = set(self.env_buckets) - set(ENVIRONMENTS)
        if unknown:
            raise ValueError(f"env_buckets names unknown environments: {sorted(unknown)}")
        return self

    @cached_property
    def home_bucket(self) -> str:
        return self.bucket or self.bucket_for(self.home_env)

    def bucket_for(self, env: str) -> str:
        """Bucket of a deployment environment (dev/staging/prod)."""
        if env not in ENVIRONMENTS:
            raise ValueError(f"unknown environment {env!r}")
        if env == self.home_env and self.bucket:
            return self.bucket
        return self.env_buckets.get(env) or f"{self.namespace}-{env}"

    def sqlite_url(self, service: str) -> str:
        return f"sqlite+aiosqlite:///{self.data_dir.resolve() / f'{service}.db'}"

    def database_url_for(self, service: str) -> str:
        return self.database_url or self.sqlite_url(service)


SERVICE_PORTS: dict[str, int] = {
    "ingest": 8001,
    "prep": 8002,
    "trainer": 8003,
    "registry": 8004,
    "monitor": 8005,
    "notifier": 8006,
    "inference": 8080,
}


class ServiceUrls(BaseSettings):
    """Where each service's HTTP API answers (`MLOPS_<SERVICE>_URL`); services and the CLI call each other here."""

    model_config = SettingsConfigDict(env_prefix="MLOPS_", extra="ignore", frozen=True)

    ingest_url: str = f"http://127.0.0.1:{SERVICE_PORTS['ingest']}"
    prep_url: str = f"http://127.0.0.1:{SERVICE_PORTS['prep']}"
    trainer_url: str = f"http://127.0.0.1:{SERVICE_PORTS['trainer']}"
    registry_url: str = f"http://127.0.0.1:{SERVICE_PORTS['registry']}"
    monitor_url: str = f"http://127.0.0.1:{SERVICE_PORTS['monitor']}"
    notifier_url: str = f"http://127.0.0.1:{SERVICE_PORTS['notifier']}"
    inference_url: str = f"http://127.0.0.1:{SERVICE_PORTS['inference']}"

    def of(self, service: str) -> str:
        return str(getattr(self, f"{service}_url")).rstrip("/")


class ConsumerSettings(BaseSettings):
    """How a service consumes its SQS queue (`CONSUMER_*`)."""

    model_config = SettingsConfigDict(env_prefix="CONSUMER_", extra="ignore", frozen=True)

    enabled: bool = True
    concurrency: int = Field(4, ge=1, le=100)
    batch_size: int = Field(10, ge=1, le=10)
    wait_seconds: int = Field(20, ge=0, le=20)
    visibility_timeout: int = Field(60, ge=5, le=43200)
    retry_backoff_max: int = Field(60, ge=0, le=900, description="Cap of the visibility backoff after a failure.")
    shutdown_grace: float = Field(30.0, ge=0)
    shutdown_poll_wait: float = Field(1.0, ge=0, description="How long shutdown lets a long poll in flight return.")
    completed_ttl_days: int = Field(7, ge=1)
