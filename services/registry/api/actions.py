"""Changing the registry: approve, reject (role approver), promote, rollback (role promoter). Bearer token needed;
the actor recorded is the token's, never a name the caller types."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from services.registry import decisions, promotion
from services.registry.api.common import Approver, Deps, Promoter

router = APIRouter(prefix="/v1/models/{name}", tags=["actions"])
Env = Literal["dev", "staging", "prod"]


class Decision(BaseModel):
    environment: Env
    reason: str = Field(min_length=3, max_length=2000, description="Why: kept with the decision.")


class Promotion(BaseModel):
    environment: Env
    reason: str = Field(min_length=3, max_length=2000)
    expected_version: int | None = Field(
        None, ge=0, description="Compare-and-set: the version you saw serving (0: none). Omit to skip the check."
    )


class Rollback(BaseModel):
    reason: str = Field(min_length=3, max_length=2000)


@router.post("/versions/{version}/approve", summary="Approve a version for an environment")
async def approve(name: str, version: int, body: Decision, who: Approver, deps: Deps) -> dict[str, Any]:
    """409 when already decided or not reviewed; 403 when the four-eyes rule forbids this approver."""
    return await decisions.approve(deps, name, version, body.environment, who.actor, body.reason)


@router.post("/versions/{version}/reject", summary="Reject a version for an environment")
async def reject(name: str, version: int, body: Decision, who: Approver, deps: Deps) -> dict[str, Any]:
    return await decisions.reject(deps, name, version, body.environment, who.actor, body.reason)


@router.post("/versions/{version}/promote", summary="Promote an approved version to an environment")
async def promote(name: str, version: int, body: Promotion, who: Promoter, deps: Deps) -> dict[str, Any]:
    """Copies the artifact into the environment's bucket, verifies its sha256 there, then moves the alias
    (compare-and-set) and records it in the ledger. 409: not approved, out of order (dev -> staging -> prod),
    the alias changed meanwhile, or the artifact failed its integrity check (alerted)."""
    return await promotion.promote(deps, name, version, body.environment, who.actor, body.reason, body.expected_version)


@router.post("/aliases/{environment}/rollback", summary="Return an environment to the version it served before")
async def rollback(name: str, environment: Env, body: Rollback, who: Promoter, deps: Deps) -> dict[str, Any]:
    return await promotion.rollback(deps, name, environment, who.actor, body.reason)
