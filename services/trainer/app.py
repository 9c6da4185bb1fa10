"""The trainer service: Optuna studies of Flair text classifiers on prepared data sets (port 8003, `/docs`)."""

from __future__ import annotations

import asyncio

from services.trainer.backends import Backend, LocalBackend
from services.trainer.handlers import handler_table
from services.trainer.records import StudyStore
from services.trainer.routes import router
from services.trainer.settings import TrainerSettings
from services.trainer.studies import Trainer
from shared.service import Runtime, ServiceParts, ServiceSpec, create_app


async def make_backend(runtime: Runtime, settings: TrainerSettings) -> Backend:
    if settings.backend == "sagemaker":
        from services.trainer.sagemaker import SageMakerBackend

        sagemaker = await runtime.aws.client("sagemaker")
        return SageMakerBackend(sagemaker, await runtime.aws.s3(), settings, runtime.topology.home_bucket)
    return LocalBackend(settings.cancel_grace_seconds)


async def bootstrap(runtime: Runtime) -> ServiceParts:
    """Assemble the trainer: S3, study records, the backend that runs jobs, and the handler table."""
    settings = TrainerSettings()
    work_dir = (settings.work_dir or runtime.common.data_dir / "trainer").resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    store = StudyStore(runtime.engine)
    await store.create_schema()
    s3 = await runtime.aws.s3()
    trainer = Trainer(
        settings=settings,
        s3=s3,
        store=store,
        backend=await make_backend(runtime, settings),
        bucket=runtime.topology.home_bucket,
        work_dir=work_dir,
        data_dir=runtime.common.data_dir.resolve(),
        code_version=runtime.common.code_version,
        slots=asyncio.Semaphore(settings.max_parallel_studies),
    )

    async def ready() -> dict[str, bool]:
        await s3.head_bucket(Bucket=trainer.bucket)
        return {"bucket": True}

    async def supervise_api_studies() -> None:
        """At shutdown, cancel studies started over HTTP (their workers stop; a new request resumes them)."""
        try:
            await asyncio.Event().wait()
        finally:
            for task in list(trainer.api_tasks):
                task.cancel()
            await asyncio.gather(*trainer.api_tasks, return_exceptions=True)

    return ServiceParts(deps=trainer, handlers=handler_table(trainer), ready=ready, background=[supervise_api_studies])


SPEC = ServiceSpec(
    name="trainer",
    title="trainer",
    description=(
        "Tunes and trains Flair text classifiers with seeded, pruned Optuna studies on prepared data sets. Triggered "
        "by a new `processed/**/manifest.json`, a `training.requested` event, or `POST /v1/studies`. Keeps only the "
        "best model (`models/{name}/{candidate}/`), records every trial (W&B runs, `experiments/{study}/`), and "
        "emits `training.started` / `training.completed` / `training.failed`."
    ),
    bootstrap=bootstrap,
    routers=[router],
)
app = create_app(SPEC)
