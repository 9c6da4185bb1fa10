"""A tiny HTTP server that answers the registry's alias API like the registry does, for inference's tests.

`FakeRegistry.point(env, target)` moves an alias; `app` serves `GET /v1/models/{name}/aliases/{env}` and
`GET /v1/aliases/{env}` from that state. Run it with `tests.support.servers.running(registry.app)`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, HTTPException

from shared.events import S3Location


class FakeRegistry:
    def __init__(self) -> None:
        self.aliases: dict[tuple[str, str], dict[str, Any]] = {}
        self.app = FastAPI()
        self.app.get("/v1/models/{name}/aliases/{env}")(self._alias)
        self.app.get("/v1/aliases/{env}")(self._env_aliases)

    def point(
        self, env: str, model_name: str, version: int, artifact: S3Location, sha256: str, **extra: Any
    ) -> dict[str, Any]:
        body = {
            "model_name": model_name,
            "environment": env,
            "version": version,
            "artifact": artifact.model_dump(exclude_none=True),
            "artifact_sha256": sha256,
            "promoted_at": datetime.now(UTC).isoformat(),
            **extra,
        }
        self.aliases[(model_name, env)] = body
        return body

    async def _alias(self, name: str, env: str) -> dict[str, Any]:
        body = self.aliases.get((name, env))
        if body is None:
            raise HTTPException(404, f"no alias {name}/{env}")
        return body

    async def _env_aliases(self, env: str) -> dict[str, Any]:
        return {"aliases": [body for (_, e), body in self.aliases.items() if e == env]}
