"""Data set records (`GET /v1/datasets[/{dataset}]`) and the per-data-set schema file."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel

from services.ingest.api.deps import Dataset, Deps, http_errors
from services.ingest.mapping import MappingIn
from services.ingest.readmodel import DatasetSummary, DatasetView, dataset_summaries, dataset_view
from shared.datasets import SCHEMA_FILE
from shared.events import ColumnMapping

router = APIRouter(prefix="/v1/datasets", tags=["datasets"])


class SchemaFile(BaseModel):
    dataset: str
    uri: str
    mapping: ColumnMapping


def schema_key(dataset: str) -> str:
    return f"raw/{dataset}/{SCHEMA_FILE}"


@router.get("", response_model=list[DatasetSummary], summary="Every data set and its latest stage")
async def list_datasets(deps: Deps) -> list[DatasetSummary]:
    """Data sets known from uploads and from the domain events (files dropped into raw/ show up once prepared)."""
    return await dataset_summaries(deps.projection.store)


@router.get("/{dataset}", response_model=DatasetView, summary="A data set's uploads, versions and their stages")
async def get_dataset(dataset: Dataset, deps: Deps) -> DatasetView:
    """Each upload and each prepared version with its timeline of events (ingested, prepared or rejected with the
    reason, training, registration, approval, promotion...); the stage is the latest event's type."""
    view = await dataset_view(deps.projection.store, dataset)
    if view is None:
        raise HTTPException(404, f"no data set {dataset!r}")
    return view


@router.put("/{dataset}/schema", response_model=SchemaFile, summary="Set how files of this data set are read")
async def put_schema(dataset: Dataset, body: MappingIn, deps: Deps) -> SchemaFile:
    """Store the data set's default column mapping as `raw/{dataset}/_schema.json`. Prep uses it for files dropped
    into raw/ without mapping metadata; it is never treated as data."""
    with http_errors():
        mapping = body.to_mapping(as_metadata=False)
    key = schema_key(dataset)
    await deps.s3.put_object(
        Bucket=deps.bucket, Key=key, Body=mapping.model_dump_json(indent=2).encode(), ContentType="application/json"
    )
    return SchemaFile(dataset=dataset, uri=f"s3://{deps.bucket}/{key}", mapping=mapping)


@router.get("/{dataset}/schema", response_model=SchemaFile, summary="The data set's schema file")
async def get_schema(dataset: Dataset, deps: Deps) -> SchemaFile:
    key = schema_key(dataset)
    try:
        answer = await deps.s3.get_object(Bucket=deps.bucket, Key=key)
    except deps.s3.exceptions.NoSuchKey as exc:
        raise HTTPException(404, f"data set {dataset!r} has no schema file") from exc
    async with answer["Body"] as body:
        data = await body.read()
    try:
        mapping = ColumnMapping.model_validate_json(data)
    except ValueError as exc:  # written by another S3 client: say what is wrong with it rather than fail
        raise HTTPException(409, f"{key} is not a valid column mapping: {exc}") from exc
    return SchemaFile(dataset=dataset, uri=f"s3://{deps.bucket}/{key}", mapping=mapping)
