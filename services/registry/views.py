"""Read models of the registry, shared by the JSON API and the dashboard."""

from __future__ import annotations

import asyncio
from typing import Any

from services.registry.decisions import version_or_404
from services.registry.deps import RegistryDeps
from services.registry.errors import Conflict, NotFound
from services.registry.review import ReviewSettings, build_report
from shared.events import S3Location
from shared.settings import ENVIRONMENTS


async def models(deps: RegistryDeps) -> list[dict[str, Any]]:
    out = []
    aliases = await deps.releases.aliases()
    for model in await deps.catalog.models():
        serving = {a["environment"]: a["version"] for a in aliases if a["model_name"] == model["model_name"]}
        out.append({**model, "aliases": serving})
    return out


async def require_model(deps: RegistryDeps, name: str) -> list[dict[str, Any]]:
    rows = await deps.catalog.versions(name)
    if not rows:
        raise NotFound(f"no model named {name}")
    return rows


def summary(row: dict[str, Any]) -> dict[str, Any]:
    keep = ("model_name", "version", "candidate_id", "status", "status_reason", "dataset", "dataset_version")
    return {k: row[k] for k in keep} | {"created_at": row["created_at"], "triggered_by": row["triggered_by"]}


async def version_view(deps: RegistryDeps, name: str, number: int) -> dict[str, Any]:
    row = await version_or_404(deps, name, number)
    evaluation = await deps.catalog.evaluation(name, number)
    approvals = {a["environment"]: a for a in await deps.releases.approvals(name, number)}
    copies = {c["environment"]: c for c in await deps.releases.copies(name, number)}
    serving = [a["environment"] for a in await deps.releases.aliases(name) if a["version"] == number]
    return {
        **summary(row),
        "lineage": {
            "study_id": row["study_id"],
            "dataset_digest": row["dataset_digest"],
            "lineage_verified": row["lineage_verified"],
            "artifact_uri": row["artifact_uri"],
            "artifact_sha256": row["artifact_sha256"],
            **row["lineage"],
        },
        "tracking": row["tracking"],
        "evaluation": evaluation["report"] if evaluation else None,
        "approvals": {env: approvals.get(env) for env in ENVIRONMENTS},
        "copies": copies,
        "serving": serving,
    }


async def leaderboard(deps: RegistryDeps, name: str) -> list[dict[str, Any]]:
    """Versions ranked by macro F1 on their own frozen test split (then accuracy, then newest)."""
    rows = await require_model(deps, name)
    evaluations = await deps.catalog.evaluations(name)
    serving: dict[int, list[str]] = {}
    for alias in await deps.releases.aliases(name):
        serving.setdefault(alias["version"], []).append(alias["environment"])
    approvals: dict[int, dict[str, str]] = {}
    for approval in await deps.releases.approvals(name):
        approvals.setdefault(approval["version"], {})[approval["environment"]] = approval["status"]
    board = []
    for row in rows:
        ev = evaluations.get(row["version"])
        board.append(
            {
                **summary(row),
                "accuracy": ev["accuracy"] if ev else None,
                "macro_f1": ev["macro_f1"] if ev else None,
                "mcc": ev["mcc"] if ev else None,
                "max_slice_gap": ev["max_slice_gap"] if ev else None,
                "serving": serving.get(row["version"], []),
                "approvals": approvals.get(row["version"], {}),
            }
        )
    board.sort(key=lambda r: (r["macro_f1"] is not None, r["macro_f1"] or 0, r["accuracy"] or 0, r["version"]))
    board.reverse()
    for rank, entry in enumerate(board, 1):
        entry["rank"] = rank if entry["macro_f1"] is not None else None
    return board


async def compare(deps: RegistryDeps, name: str, a: int, b: int) -> dict[str, Any]:
    """Version `a` against version `b` on both their test sets (predictions cached, computed when missing)."""
    first, second = await version_or_404(deps, name, a), await version_or_404(deps, name, b)
    for row in (first, second):
        if row["status"] in ("rejected", "integrity_failed"):
            raise Conflict(f"v{row['version']} is {row['status']}: not evaluated")
    testsets: dict[str, Any] = {}
    for row in (first, second):
        ts = await deps.evaluator.testset(row["lineage"]["manifest"])
        testsets.setdefault(ts.key, ts)
    ordered = list(testsets.values())
    predictions = {row["version"]: await deps.evaluator.predictions(row, ordered) for row in (first, second)}
    settings = ReviewSettings(deps.settings.bootstrap_resamples, 0.95, (), deps.settings.slice_min_group)
    loop = asyncio.get_running_loop()
    report = await loop.run_in_executor(
        deps.evaluator.executor, build_report, a, ordered, predictions, {f"v{b}": b}, settings
    )
    return {
        "a": a,
        "b": b,
        "testsets": [t.key for t in ordered],
        "on_testsets": report["on_testsets"],
        "comparison": report["comparisons"][0]["testsets"] if report["comparisons"] else [],
    }


async def alias_view(deps: RegistryDeps, name: str, env: str) -> dict[str, Any]:
    """What `env` serves: the version and its verified copy in the environment's bucket (inference reads this)."""
    if env not in ENVIRONMENTS:
        raise NotFound(f"unknown environment {env!r} (one of {', '.join(ENVIRONMENTS)})")
    alias = await deps.releases.alias(name, env)
    if alias is None:
        await require_model(deps, name)
        raise NotFound(f"{name} has no version in {env}")
    row = await version_or_404(deps, name, alias["version"])
    copy = await deps.releases.copy_of(name, alias["version"], env)
    assert copy is not None  # an alias only ever moves to a verified copy
    files = {k: S3Location.parse(v).model_dump() for k, v in copy["files"].items()}
    return {
        "model_name": name,
        "environment": env,
        "version": alias["version"],
        "revision": alias["revision"],
        "updated_at": alias["updated_at"],
        "artifact": S3Location.parse(copy["artifact_uri"]).model_dump(),
        "artifact_sha256": copy["artifact_sha256"],
        "transformer": files.get("transformer"),
        "model_card": files.get("model_card"),
        "reference": files.get("reference"),
        "labels": row["lineage"].get("labels", []),
        "dataset": row["dataset"],
        "dataset_version": row["dataset_version"],
    }


async def plots(deps: RegistryDeps, row: dict[str, Any]) -> list[str]:
    """Names of the study's plot files under its experiments prefix (HTML or images)."""
    prefix = row["lineage"].get("experiments_prefix") or ""
    bucket = row["lineage"].get("experiments_bucket")
    if not prefix or not bucket:
        return []
    keys = await deps.store.keys(bucket, prefix)
    return [k[len(prefix) :] for k in keys if k.rsplit(".", 1)[-1].lower() in ("html", "png", "svg", "jpg", "json")]
