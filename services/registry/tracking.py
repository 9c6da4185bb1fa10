"""Linking registered versions to the Weights & Biases model registry.

With `WANDB_API_KEY` set, each version becomes a W&B model artifact (a reference to its S3 URI with the lineage as
metadata) linked into the W&B registry under the model's name. Without it nothing touches the network and the
version records that it was not linked, and why. A W&B outage never fails a registration: the outcome is recorded.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class Tracker:
    def __init__(self, project: str, entity: str | None, linker: Callable[..., str] | None = None) -> None:
        self.project = project
        self.entity = entity
        self._linker = linker or _link_with_wandb

    @property
    def enabled(self) -> bool:
        return bool(os.environ.get("WANDB_API_KEY"))

    async def link(self, version: dict[str, Any]) -> dict[str, Any]:
        """{"wandb": {"linked": bool, ...}} for the version's `tracking` column."""
        if not self.enabled:
            return {"wandb": {"linked": False, "reason": "WANDB_API_KEY is not set: not linked to the W&B registry"}}
        try:
            path = await asyncio.to_thread(self._linker, version, self.project, self.entity)
        except Exception as exc:  # tracking is a record, not a gate: keep the registration
            log.warning("linking %s v%s to W&B failed: %s", version["model_name"], version["version"], exc)
            return {"wandb": {"linked": False, "reason": f"W&B refused or failed: {type(exc).__name__}: {exc}"}}
        return {"wandb": {"linked": True, "path": path}}


def _link_with_wandb(version: dict[str, Any], project: str, entity: str | None) -> str:  # pragma: no cover - network
    import wandb

    name, number = version["model_name"], version["version"]
    metadata = {
        "registry_version": number,
        "candidate_id": version["candidate_id"],
        "dataset": version["dataset"],
        "dataset_version": version["dataset_version"],
        "dataset_digest": version["dataset_digest"],
        "study_id": version["study_id"],
        "artifact_sha256": version["artifact_sha256"],
        "params": version["lineage"].get("params", {}),
        "code_version": version["lineage"].get("code_version"),
    }
    run = wandb.init(project=project, entity=entity, job_type="registry", name=f"register-{name}-v{number}")
    try:
        artifact = wandb.Artifact(name, type="model", metadata=metadata)
        artifact.add_reference(version["artifact_uri"], checksum=False)  # the bytes stay in S3
        logged = run.log_artifact(artifact, aliases=[f"v{number}", version["candidate_id"]])
        target = f"{entity}/model-registry/{name}" if entity else f"model-registry/{name}"
        run.link_artifact(logged, target)
        return f"{target}:v{number}"
    finally:
        run.finish()
