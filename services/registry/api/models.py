"""Reading the registry: models, versions with lineage and review, leaderboard, comparison, aliases, ledger."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from services.registry import views
from services.registry.api.common import Deps
from services.registry.errors import NotFound
from shared.events import S3Location
from shared.settings import ENVIRONMENTS

router = APIRouter(prefix="/v1", tags=["models"])


class AliasOut(BaseModel):
    """What an environment serves. Inference loads `artifact` (the environment bucket's verified copy) and checks
    it against `artifact_sha256` before loading."""

    model_name: str
    environment: str
    version: int
    revision: int = Field(description="Bumped by every move of the alias (compare-and-set token).")
    updated_at: float
    artifact: S3Location
    artifact_sha256: str
    transformer: S3Location | None
    model_card: S3Location | None
    reference: S3Location | None
    labels: list[str]
    dataset: str
    dataset_version: str


class LedgerEntry(BaseModel):
    """One change of an alias: who, when, from which version to which, and why."""

    id: int
    model_name: str
    environment: str
    action: str
    from_version: int | None
    to_version: int
    actor: str
    reason: str
    at: float
    at_iso: str
    event_id: str | None


def _entry(row: dict[str, Any]) -> LedgerEntry:
    return LedgerEntry(**row, at_iso=datetime.fromtimestamp(row["at"]).astimezone().isoformat())


@router.get("/models", summary="Every model, its number of versions and what each environment serves")
async def list_models(deps: Deps) -> dict[str, Any]:
    return {"models": await views.models(deps)}


@router.get("/models/{name}", summary="A model: its versions (newest first) and aliases")
async def get_model(name: str, deps: Deps) -> dict[str, Any]:
    rows = await views.require_model(deps, name)
    aliases = {a["environment"]: a["version"] for a in await deps.releases.aliases(name)}
    return {"model_name": name, "aliases": aliases, "versions": [views.summary(r) for r in rows]}


@router.get("/models/{name}/versions", summary="The versions of a model, newest first")
async def list_versions(name: str, deps: Deps) -> dict[str, Any]:
    return {"versions": [views.summary(r) for r in await views.require_model(deps, name)]}


@router.get("/models/{name}/versions/{version}", summary="A version: lineage, review, approvals, copies")
async def get_version(name: str, version: int, deps: Deps) -> dict[str, Any]:
    return await views.version_view(deps, name, version)


@router.get("/models/{name}/leaderboard", summary="Versions ranked by macro F1 on their frozen test split")
async def leaderboard(name: str, deps: Deps) -> dict[str, Any]:
    return {"model_name": name, "leaderboard": await views.leaderboard(deps, name)}


@router.get("/models/{name}/compare", summary="Two versions on both their test sets, with statistics")
async def compare(
    name: str, deps: Deps, a: Annotated[int, Query(ge=1)], b: Annotated[int, Query(ge=1)]
) -> dict[str, Any]:
    """Both versions are scored on the test split of each one's data set; the difference a - b gets a paired
    bootstrap interval per metric and McNemar's exact test. Predictions are cached, so this is fast once computed."""
    return await views.compare(deps, name, a, b)


@router.get("/models/{name}/aliases", summary="What each environment serves")
async def list_aliases(name: str, deps: Deps) -> dict[str, Any]:
    await views.require_model(deps, name)
    out: dict[str, dict[str, Any] | None] = {}
    for env in ENVIRONMENTS:
        try:
            out[env] = await views.alias_view(deps, name, env)
        except NotFound:
            out[env] = None
    return {"model_name": name, "aliases": out}


@router.get("/models/{name}/aliases/{environment}", response_model=AliasOut, summary="What one environment serves")
async def get_alias(name: str, environment: str, deps: Deps) -> dict[str, Any]:
    return await views.alias_view(deps, name, environment)


@router.get("/models/{name}/aliases/{environment}/at", summary="Which version served an environment at time T")
async def served_at(
    name: str,
    environment: str,
    deps: Deps,
    time: Annotated[datetime, Query(description="ISO 8601, e.g. 2026-11-25T10:00:00Z (no zone: UTC)")],
) -> dict[str, Any]:
    moment = time.timestamp() if time.tzinfo else time.replace(tzinfo=UTC).timestamp()
    await views.require_model(deps, name)
    if environment not in ENVIRONMENTS:
        raise NotFound(f"unknown environment {environment!r} (one of {', '.join(ENVIRONMENTS)})")
    entry = await deps.releases.served_at(name, environment, moment)
    return {
        "model_name": name,
        "environment": environment,
        "time": time.isoformat(),
        "version": entry["to_version"] if entry else None,
        "since": _entry(entry) if entry else None,
    }


@router.get("/models/{name}/ledger", response_model=list[LedgerEntry], summary="Alias changes of a model")
async def model_ledger(
    name: str, deps: Deps, environment: str | None = None, limit: Annotated[int, Query(ge=1, le=5000)] = 500
) -> list[LedgerEntry]:
    await views.require_model(deps, name)
    return [_entry(r) for r in await deps.releases.ledger(name, environment, limit)]


@router.get("/ledger", response_model=list[LedgerEntry], summary="Every alias change, oldest first")
async def ledger(
    deps: Deps,
    model: str | None = None,
    environment: str | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[LedgerEntry]:
    return [_entry(r) for r in await deps.releases.ledger(model, environment, limit)]
