"""The ingest service: uploads and URL imports into raw/, and the data set records built from domain events."""

from __future__ import annotations

from services.ingest.api import datasets, imports, uploads
from services.ingest.handlers import handler_table
from services.ingest.ingesting import IngestDeps, TransferSlots
from services.ingest.projection import Projection
from services.ingest.settings import IngestSettings
from services.ingest.sqlstore import SqlRecordStore
from shared.service import Runtime, ServiceParts, ServiceSpec, create_app


async def bootstrap(runtime: Runtime) -> ServiceParts:
    settings = IngestSettings()
    store = SqlRecordStore(runtime.engine)
    await store.create_schema()
    projection = Projection(store)
    s3 = await runtime.aws.s3()
    deps = IngestDeps(
        settings=settings,
        s3=s3,
        bucket=runtime.topology.home_bucket,
        publisher=runtime.publisher,
        projection=projection,
        slots=TransferSlots(settings.max_concurrent_transfers),
    )

    async def ready() -> dict[str, bool]:
        await s3.head_bucket(Bucket=deps.bucket)
        return {"s3": True}

    return ServiceParts(deps=deps, handlers=handler_table(projection, runtime.topology.spec("ingest")), ready=ready)


SPEC = ServiceSpec(
    name="ingest",
    title="Ingest",
    description=(
        "Takes data files into the platform: multipart uploads and http(s) imports are streamed into `raw/` in S3 "
        "with their column mapping as object metadata, checked at the edge, and announced as `dataset.ingested`. "
        "Keeps the records of every data set (uploads, prepared versions and their later stages), built from the "
        "domain events."
    ),
    bootstrap=bootstrap,
    routers=[uploads.router, imports.router, datasets.router],
)
app = create_app(SPEC)
