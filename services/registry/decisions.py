"""Approval per environment: the policy decides automatically when every gate passes, a person otherwise.

After a review, each environment gets an approval record: approved by the registry when its policy allows automatic
approval and the gates pass, pending otherwise. A person then approves or rejects (once: a second decision is a
conflict); with the four-eyes rule the approver may not be who triggered the training. `model.approval_requested`
goes out for the next environment a version could go to, so people are asked one step at a time.
"""

from __future__ import annotations

import logging
from typing import Any

from services.registry.deps import RegistryDeps
from services.registry.errors import Conflict, Forbidden, NotFound
from services.registry.policy import as_json, evaluate_gates, failed
from services.registry.releases import DecisionConflict, event_id
from shared.events import ModelApprovalRequested, ModelApproved, ModelRejected
from shared.settings import ENVIRONMENTS

log = logging.getLogger(__name__)
REGISTRY_ACTOR = "registry"


async def version_or_404(deps: RegistryDeps, model_name: str, version: int) -> dict[str, Any]:
    row = await deps.catalog.version(model_name, version)
    if row is None:
        known = await deps.catalog.versions(model_name)
        raise NotFound(f"model {model_name} has no version {version}" if known else f"no model named {model_name}")
    return row


def require_reviewed(row: dict[str, Any]) -> None:
    if row["status"] != "reviewed":
        why = f": {row['status_reason']}" if row.get("status_reason") else ""
        raise Conflict(f"{row['model_name']} v{row['version']} is {row['status']}{why}")


async def open_reviews(deps: RegistryDeps, row: dict[str, Any], report: dict[str, Any]) -> list[str]:
    """Create each environment's approval from the gates; approve automatically where the policy allows.
    Returns the environments approved automatically."""
    automatic = []
    for env in ENVIRONMENTS:
        policy = deps.policy_of(env)
        gates = as_json(evaluate_gates(policy, report, row, env))
        approval = await deps.releases.request(row["model_name"], row["version"], env, {"gates": gates})
        if approval["status"] == "pending" and policy.auto_approve and not failed(gates):
            await decide(deps, row, env, "approved", REGISTRY_ACTOR, "every gate passed", automatic=True)
        decided = await deps.releases.approval(row["model_name"], row["version"], env)
        if decided and decided["status"] == "approved" and decided["automatic"]:
            automatic.append(env)
    return automatic


async def decide(
    deps: RegistryDeps, row: dict[str, Any], env: str, status: str, actor: str, reason: str, automatic: bool = False
) -> dict[str, Any]:
    name, number = row["model_name"], row["version"]
    payload: ModelApproved | ModelRejected
    if status == "approved":
        payload = ModelApproved(
            model_name=name, version=number, environment=env, actor=actor, reason=reason, automatic=automatic
        )
    else:
        payload = ModelRejected(model_name=name, version=number, environment=env, actor=actor, reason=reason)
    event = await deps.stage(payload, row["correlation_id"], event_id(name, number, env, status))
    try:
        decided = await deps.releases.decide(name, number, env, status, actor, reason, automatic, event)
    except DecisionConflict as exc:
        raise Conflict(f"the {env} approval of {name} v{number} is {exc}") from None
    await deps.flush()
    return decided


async def approve(deps: RegistryDeps, name: str, number: int, env: str, actor: str, reason: str) -> dict[str, Any]:
    row = await version_or_404(deps, name, number)
    require_reviewed(row)
    if deps.policy_of(env).four_eyes and actor == row["triggered_by"]:
        raise Forbidden(f"four-eyes rule in {env}: {actor} triggered this training and may not approve it")
    approval = await deps.releases.approval(name, number, env)
    if approval is None:
        raise Conflict(f"{name} v{number} has no {env} approval to decide (not reviewed yet)")
    return await decide(deps, row, env, "approved", actor, reason)


async def reject(deps: RegistryDeps, name: str, number: int, env: str, actor: str, reason: str) -> dict[str, Any]:
    row = await version_or_404(deps, name, number)
    if await deps.releases.approval(name, number, env) is None:
        raise Conflict(f"{name} v{number} has no {env} approval to decide (not reviewed yet)")
    return await decide(deps, row, env, "rejected", actor, reason)


async def ask_next(deps: RegistryDeps, row: dict[str, Any], after: str | None) -> None:
    """Ask people for the approval of the environment after `after` (None: the first), if one is pending."""
    index = 0 if after is None else ENVIRONMENTS.index(after) + 1
    if index >= len(ENVIRONMENTS):
        return
    env = ENVIRONMENTS[index]
    approval = await deps.releases.approval(row["model_name"], row["version"], env)
    if approval is None or approval["status"] != "pending":
        return
    gates = approval["gates"].get("gates", [])
    payload = ModelApprovalRequested(
        model_name=row["model_name"],
        version=row["version"],
        environment=env,
        failed_gates=failed(gates) or [f"the {env} policy asks a person to approve"],
        approval_url=deps.version_url(row["model_name"], row["version"]) + f"#approval-{env}",
    )
    eid = event_id(row["model_name"], row["version"], env, "approval_requested")
    await deps.releases.announce(await deps.stage(payload, row["correlation_id"], eid))
    await deps.flush()
