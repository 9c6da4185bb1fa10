"""Promotion dev -> staging -> prod, rollback, and the integrity checks on the way.

Promoting copies the artifact (and its model card, reference predictions and transformer) into the target
environment's bucket, which may belong to another account, and hashes the copy: only bytes that match the sha256
recorded at registration are ever served. Then the alias moves by compare-and-set together with its ledger entry and
its event (`model.promoted`, naming the environment's copy). A mismatch deletes the copy, marks the version, alerts
with `model.integrity_failed` and refuses. Rollback returns an environment to the version it served before, after
re-hashing that version's copy in the environment's bucket.
"""

from __future__ import annotations

import logging
from typing import Any

from services.registry.artifacts import MissingObject
from services.registry.decisions import ask_next, require_reviewed, version_or_404
from services.registry.deps import RegistryDeps
from services.registry.errors import Conflict, IntegrityFailure, NotFound
from services.registry.releases import AliasConflict, Move, event_id
from shared.events import ModelIntegrityFailed, ModelPromoted, ModelRolledBack, S3Location
from shared.settings import ENVIRONMENTS

log = logging.getLogger(__name__)
COMPANIONS = ("model_card", "reference", "transformer")


def env_prefix(model_name: str, version: int) -> str:
    return f"models/{model_name}/v{version}/"


async def promote(
    deps: RegistryDeps,
    name: str,
    number: int,
    env: str,
    actor: str,
    reason: str,
    expected_version: int | None = None,
) -> dict[str, Any]:
    """Move `env`'s alias to `number`. `expected_version` (0: no version yet) makes it a compare-and-set against
    what the caller saw. Returns the ledger entry (or the current alias, with `changed: False`, when it is already
    there)."""
    row = await version_or_404(deps, name, number)
    require_reviewed(row)
    approval = await deps.releases.approval(name, number, env)
    if approval is None or approval["status"] != "approved":
        state = approval["status"] if approval else "not reviewed"
        raise Conflict(f"{name} v{number} is not approved for {env} ({state})")
    await _require_order(deps, name, number, env)
    alias = await deps.releases.alias(name, env)
    current = alias["version"] if alias else None
    if expected_version is not None and (current or 0) != expected_version:
        raise Conflict(f"{name}@{env} serves version {current}, not the expected {expected_version or 'none'}")
    if current == number:
        return {**alias, "changed": False} if alias else {}
    copy = await deploy(deps, row, env)
    payload = ModelPromoted(
        model_name=name,
        version=number,
        environment=env,
        previous_version=current,
        artifact=S3Location.parse(copy["artifact_uri"]),
        artifact_sha256=copy["artifact_sha256"],
        actor=actor,
        reason=reason,
    )
    revision = alias["revision"] if alias else None
    entry = await _move(deps, row, Move(name, env, "promote", current, number, actor, reason), revision, payload)
    await ask_next(deps, row, env)
    return {**entry, "changed": True}


async def _require_order(deps: RegistryDeps, name: str, number: int, env: str) -> None:
    index = ENVIRONMENTS.index(env)
    if index == 0:
        return
    before = ENVIRONMENTS[index - 1]
    served = [e for e in await deps.releases.ledger(name, before) if e["to_version"] == number]
    if not served:
        raise Conflict(f"promote {name} v{number} to {before} before {env} (environments go dev -> staging -> prod)")


async def _move(
    deps: RegistryDeps, row: dict[str, Any], move: Move, revision: int | None, payload: Any
) -> dict[str, Any]:
    eid = event_id(move.model_name, move.environment, "revision", (revision or 0) + 1)
    event = await deps.stage(payload, row["correlation_id"], eid)
    try:
        entry = await deps.releases.move(move, revision, event)
    except AliasConflict as exc:
        raise Conflict(f"lost a concurrent change: {exc}") from None
    await deps.flush()
    log.info(
        "%s %s@%s: v%s -> v%s by %s",
        move.action,
        move.model_name,
        move.environment,
        move.from_version,
        move.to_version,
        move.actor,
    )
    return entry


async def deploy(deps: RegistryDeps, row: dict[str, Any], env: str) -> dict[str, Any]:
    """Copy the version's files into the environment's bucket and verify the artifact's checksum there."""
    name, number = row["model_name"], row["version"]
    bucket, prefix = deps.common.bucket_for(env), env_prefix(name, number)
    source = S3Location.parse(row["artifact_uri"])
    target = S3Location(bucket=bucket, key=prefix + source.key.rsplit("/", 1)[-1])
    try:
        await deps.store.copy(source, target)
        actual: str | None = await deps.store.sha256(target)
    except MissingObject:
        actual = None
    if actual != row["artifact_sha256"]:
        if actual is not None:
            await deps.store.delete(target)  # never leave unverified bytes where inference could find them
        await integrity_failed(deps, row, env, source, actual)
    files = {}
    for name_of in COMPANIONS:
        uri = row["lineage"].get(name_of)
        if not uri:
            continue
        origin = S3Location.parse(uri)
        copy = S3Location(bucket=bucket, key=prefix + origin.key.rsplit("/", 1)[-1])
        try:
            await deps.store.copy(origin, copy)
            files[name_of] = copy.uri
        except MissingObject:
            log.warning("%s of %s v%s is missing at %s; not copied", name_of, name, number, uri)
    await deps.releases.record_copy(name, number, env, target.uri, row["artifact_sha256"], files)
    found = await deps.releases.copy_of(name, number, env)
    assert found is not None
    return found


async def integrity_failed(
    deps: RegistryDeps, row: dict[str, Any], env: str | None, artifact: S3Location, actual: str | None
) -> None:
    """Record, alert and refuse: the artifact is not what was registered."""
    name, number = row["model_name"], row["version"]
    reason = f"artifact {artifact.uri} has sha256 {actual or '(unreadable)'}, registered {row['artifact_sha256']}"
    await deps.catalog.set_status(name, number, "integrity_failed", reason)
    payload = ModelIntegrityFailed(
        model_name=name,
        version=number,
        environment=env,
        artifact=artifact,
        expected_sha256=row["artifact_sha256"],
        actual_sha256=actual,
        detected_by="registry",
    )
    eid = event_id(name, number, env, "integrity", actual)
    await deps.releases.announce(await deps.stage(payload, row["correlation_id"], eid))
    await deps.flush()
    log.error("integrity failure of %s v%s: %s", name, number, reason)
    raise IntegrityFailure(f"refused: {reason}")


def rollback_target(history: list[dict[str, Any]]) -> int | None:
    """The version served before the current one: promotions push, rollbacks pop."""
    stack: list[int] = []
    for entry in history:
        if entry["action"] == "rollback":
            if stack:
                stack.pop()
            if not stack or stack[-1] != entry["to_version"]:
                stack.append(entry["to_version"])
        else:
            stack.append(entry["to_version"])
    return stack[-2] if len(stack) >= 2 else None


async def rollback(deps: RegistryDeps, name: str, env: str, actor: str, reason: str) -> dict[str, Any]:
    alias = await deps.releases.alias(name, env)
    if alias is None:
        raise NotFound(f"{name} has no version in {env}")
    target = rollback_target(await deps.releases.ledger(name, env, limit=100_000))
    if target is None:
        raise Conflict(f"{name}@{env} has no earlier version to return to")
    row = await version_or_404(deps, name, target)
    require_reviewed(row)  # a version found tampered with since is never served again
    copy = await deps.releases.copy_of(name, target, env)
    if copy is None:
        raise Conflict(f"v{target} has no verified copy in {env}")
    location = S3Location.parse(copy["artifact_uri"])
    try:
        actual: str | None = await deps.store.sha256(location)
    except MissingObject:
        actual = None
    if actual != row["artifact_sha256"]:
        await integrity_failed(deps, row, env, location, actual)
    payload = ModelRolledBack(
        model_name=name,
        environment=env,
        from_version=alias["version"],
        to_version=target,
        artifact=location,
        artifact_sha256=row["artifact_sha256"],
        actor=actor,
        reason=reason,
    )
    move = Move(name, env, "rollback", alias["version"], target, actor, reason)
    return {**await _move(deps, row, move, alias["revision"], payload), "changed": True}
