"""The prep service: raw uploads in, validated and split Flair corpora out (port 8002, `/docs`)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from services.prep.handlers import PrepDeps, handler_table
from services.prep.jobs import JobStore
from services.prep.routes import router
from services.prep.settings import PrepSettings
from services.prep.store import S3Store
from services.prep.workflow import Workbench, clean_stale_workdirs
from shared.service import Runtime, ServiceParts, ServiceSpec, create_app


async def bootstrap(runtime: Runtime) -> ServiceParts:
    """Assemble prep from the runtime's clients: S3 store, job records, worker threads, handler table."""
    settings = PrepSettings()
    work_dir = settings.work_dir or runtime.common.data_dir / "prep-work"
    await asyncio.to_thread(clean_stale_workdirs, work_dir)
    s3 = await runtime.aws.s3()
    jobs = JobStore(runtime.engine)
    await jobs.create_schema()
    executor = ThreadPoolExecutor(max_workers=settings.max_parallel_jobs + 1, thread_name_prefix="prep")
    runtime.stack.callback(executor.shutdown, wait=False, cancel_futures=True)
    bench = Workbench(
        store=S3Store(s3, settings.part_size),
        settings=settings,
        config=settings.config(),
        bucket=runtime.topology.home_bucket,
        code_version=runtime.common.code_version,
        work_dir=work_dir,
        executor=executor,
        slots=asyncio.Semaphore(settings.max_parallel_jobs),
    )
    deps = PrepDeps(bench=bench, jobs=jobs)

    async def ready() -> dict[str, bool]:
        await s3.head_bucket(Bucket=bench.bucket)
        return {"bucket": True}

    return ServiceParts(deps=deps, handlers=handler_table(deps), ready=ready, background=[deps.supervise_api_jobs])


SPEC = ServiceSpec(
    name="prep",
    title="prep",
    description=(
        "Validates, cleans and splits raw text-classification files into Flair corpora under "
        "`processed/{dataset}/{version}/` (manifest, transformer, train/dev/test). Triggered by S3 notifications "
        "on `raw/`, or on demand with `POST /v1/jobs`. Emits `dataset.prepared` / `dataset.rejected`."
    ),
    bootstrap=bootstrap,
    routers=[router],
)
app = create_app(SPEC)
