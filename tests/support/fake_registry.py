"""A tiny HTTP server that answers the registry's alias API the way services/registry does, for inference's tests.

`FakeRegistry.point(env, ...)` moves an alias; `app` serves `GET /v1/models/{name}/aliases/{env}` (the registry's
`AliasOut` shape) and `GET /v1/models` from that state. Run it with `tests.support.servers.running(registry.app)`.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI, HTTPException

from shared.events import S3Location


class FakeRegistry:
    def __init__(self) -> None:
        self.aliases: dict[tuple[str, str], dict[str, Any]] = {}
        self.app = FastAPI()
        self.app.get("/v1/models/{name}/aliases/{env}")(self._alias)
        self.app.get("/v1/models")(self._models)

    def point(
        self, env: str, model_name: str, version: int, artifact: S3Location, sha256: str, **extra: Any
    ) -> dict[str, Any]:
        previous = self.aliases.get((model_name, env))
        body = {
            "model_name": model_name,
            "environment": env,
            "version": version,
            "revision": (previous["revision"] + 1) if previous else 1,
            "updated_at": time.time(),
            "artifact": artifact.model_dump(),
            "artifact_sha256": sha256,
            "transformer": None,
            "model_card": None,
            "reference": None,
            "labels": [],
            "dataset": "tickets",
            "dataset_version": "v",
            **extra,
        }
        self.aliases[(model_name, env)] = body
        return body

    async def _alias(self, name: str, env: str) -> dict[str, Any]:
        body = self.aliases.get((name, env))
        if body is None:
            raise HTTPException(404, f"{name} has no version in {env}")
        return body

    async def _models(self) -> dict[str, Any]:
        names = sorted({name for name, _ in self.aliases})
        return {
            "models": [
                {"model_name": name, "aliases": {e: b["version"] for (n, e), b in self.aliases.items() if n == name}}
                for name in names
            ]
        }
