"""The one table of deployable services: what each image holds, how big its task is, what it may touch.

Everything about packaging and deploying a service is derived from `SERVICES`: the Dockerfiles
(`python -m ecs.dockerfiles`), the ECS task definitions (`ecs.taskdefs`), the IAM policies (`ecs.iam`, together with
the topology in `shared.topology`), the CloudWatch alarms (`ecs.observability`), the CI change detection
(`ecs.changes`) and the checks of compose.yaml (tests/unit/deploy). Change a service here, then run
`python -m ecs.dockerfiles --write`; the tests fail while any derived file disagrees with this table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.settings import SERVICE_PORTS

# CPU-only torch: the images install it from the PyTorch CPU index before the service's extra (pyproject pins 2.13.0).
TORCH_VERSION = "2.13.0"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


@dataclass(frozen=True)
class Access:
    """What a service's task role may touch, in topology terms (the policy itself is built by `ecs.iam`).

    Prefixes are S3 key prefixes of the home bucket; `env_*` prefixes apply to every environment's bucket
    (dev/staging/prod, possibly in other accounts), for the registry's promotion copies and the models served there.
    """

    s3_read: tuple[str, ...] = ()
    s3_write: tuple[str, ...] = ()
    env_read: tuple[str, ...] = ()
    env_write: tuple[str, ...] = ()
    list_bucket: bool = False  # HeadBucket/ListObjectsV2 (key names only) on the buckets it reads
    delete_env_copies: bool = False  # deletes what it wrote to env buckets (registry: a copy that failed its checksum)
    consume: bool = True  # its topology queue (receive, delete, visibility)
    fanout_queues: bool = False  # creates, subscribes and deletes its own per-replica queues (inference)
    sync_subscription: bool = False  # reads and sets its subscription's filter policy (notifier)
    watch_queues: bool = False  # reads every queue's depth and age (monitor's pipeline health)
    sagemaker: bool = False  # starts and follows SageMaker training jobs (trainer with TRAINER_BACKEND=sagemaker)


@dataclass(frozen=True)
class ServiceDef:
    """One microservice: its image, its Fargate task and its permissions."""

    name: str
    cpu: int  # Fargate CPU units (1024 = 1 vCPU)
    memory: int  # MiB; must be a valid Fargate combination with cpu
    access: Access
    torch: bool = False
    desired_count: int = 1
    secrets: tuple[str, ...] = ()  # environment variables read from SSM Parameter Store /<namespace>/<service>/<VAR>
    environment: dict[str, str] = field(default_factory=dict)  # non-secret settings on AWS
    needs: tuple[str, ...] = ()  # services that must be healthy before this one starts (compose)
    start_period: int = 30  # seconds the health check tolerates failures while the service starts
    public: bool = False  # reached by people through a load balancer (inference, registry UI, ingest uploads)
    ephemeral_gib: int = 21  # Fargate ephemeral storage (prep spills partitions, trainer writes models)

    @property
    def port(self) -> int:
        return SERVICE_PORTS[self.name]

    @property
    def extra(self) -> str:
        """The pyproject extra the image installs (and nothing else)."""
        return self.name

    @property
    def module(self) -> str:
        return f"services.{self.name}"

    @property
    def dockerfile(self) -> str:
        return f"services/{self.name}/Dockerfile"


# Every service keeps state in SQL (idempotency, records); on AWS that is RDS PostgreSQL, and its URL holds a password.
_DB = "MLOPS_DATABASE_URL"

SERVICES: dict[str, ServiceDef] = {
    s.name: s
    for s in (
        ServiceDef(
            "ingest",
            cpu=512,
            memory=1024,
            access=Access(s3_read=("raw/",), s3_write=("raw/",), list_bucket=True),
            secrets=(_DB,),
            public=True,
        ),
        ServiceDef(
            "prep",
            cpu=1024,
            memory=2048,
            access=Access(s3_read=("raw/", "processed/"), s3_write=("processed/", "quarantine/"), list_bucket=True),
            secrets=(_DB,),
            ephemeral_gib=50,
        ),
        ServiceDef(
            "trainer",
            cpu=4096,
            memory=16384,
            torch=True,
            access=Access(
                s3_read=("processed/", "experiments/", "models/"),
                s3_write=("experiments/", "models/"),
                list_bucket=True,
                sagemaker=True,
            ),
            secrets=(_DB, "WANDB_API_KEY"),
            environment={"WANDB_MODE": "online", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
            start_period=90,
            ephemeral_gib=50,
        ),
        ServiceDef(
            "registry",
            cpu=2048,
            memory=8192,
            torch=True,
            access=Access(
                s3_read=("processed/", "experiments/", "models/"),
                s3_write=("models/",),
                env_read=("models/",),
                env_write=("models/",),
                list_bucket=True,
                delete_env_copies=True,
            ),
            secrets=(_DB, "REGISTRY_TOKENS", "REGISTRY_SESSION_SECRET", "WANDB_API_KEY"),
            environment={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
            start_period=90,
            public=True,
        ),
        ServiceDef(
            "inference",
            cpu=2048,
            memory=4096,
            torch=True,
            desired_count=2,
            access=Access(
                s3_read=("processed/",),
                s3_write=("capture/", "feedback/"),
                env_read=("models/",),
                consume=False,
                fanout_queues=True,
            ),
            secrets=(_DB,),
            environment={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
            needs=("registry",),
            start_period=120,
            public=True,
        ),
        ServiceDef(
            "monitor",
            cpu=1024,
            memory=4096,
            access=Access(
                s3_read=("processed/", "models/", "capture/", "feedback/", "monitoring/"),
                s3_write=("monitoring/",),
                list_bucket=True,
                watch_queues=True,
            ),
            secrets=(_DB,),
            # On AWS the EventBridge Scheduler schedule (topology) sends the checks; emulators need the in-process one.
            environment={"MONITOR_EMBEDDED_SCHEDULER": "false"},
            needs=("registry",),
            start_period=60,
        ),
        ServiceDef(
            "notifier",
            cpu=256,
            memory=512,
            access=Access(sync_subscription=True),
            secrets=(_DB, "NOTIFIER_TEAMS_WEBHOOK_URL", "NOTIFIER_SMTP_PASSWORD"),
        ),
    )
}

# The order people read them in (the pipeline's order); compose and the README follow it.
ORDER: tuple[str, ...] = ("ingest", "prep", "trainer", "registry", "inference", "monitor", "notifier")


def service(name: str) -> ServiceDef:
    """The table entry of a service, with a clear error for an unknown name."""
    try:
        return SERVICES[name]
    except KeyError:
        raise SystemExit(f"unknown service {name!r}; known: {', '.join(ORDER)}") from None
