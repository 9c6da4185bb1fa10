"""The port to the registry: "which model should my environment serve?".

The registry is the source of truth for an environment's alias; events only tell us to look again. `HttpAliases`
asks the registry's API (`GET /v1/models/{name}/aliases/{env}`, the registry's `AliasOut`: version, the verified
copy of the artifact in the environment's bucket with its sha256, transformer, model card, labels); without a
configured model name it lists `GET /v1/models` and follows the model most recently promoted to the environment.
`MemoryAliases` is the in-memory fake for tests.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from shared.events import S3Location

log = logging.getLogger(__name__)


class RegistryUnavailable(RuntimeError):
    """The registry did not answer usefully; keep serving what is loaded and ask again later."""


@dataclass(frozen=True)
class ModelTarget:
    """What an environment's alias points at: a version and its artifact in that environment's bucket."""

    model_name: str
    version: int
    artifact: S3Location
    sha256: str
    transformer: S3Location | None = None
    model_card: S3Location | None = None
    labels: tuple[str, ...] = ()
    lineage: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def identity(self) -> tuple[str, int, str]:
        return (self.model_name, self.version, self.sha256)


class AliasSource(Protocol):
    async def current(self, model_name: str | None) -> ModelTarget | None:
        """The target of the environment's alias (of `model_name`, or of the latest promoted model when None);
        None when nothing is promoted there yet. Raises RegistryUnavailable."""
        ...


class MemoryAliases:
    """In-memory fake of the registry's aliases: tests set `target` (or `error`)."""

    def __init__(self, target: ModelTarget | None = None) -> None:
        self.target = target
        self.error: Exception | None = None
        self.calls = 0

    async def current(self, model_name: str | None) -> ModelTarget | None:
        self.calls += 1
        if self.error is not None:
            raise self.error
        if self.target is None or (model_name and self.target.model_name != model_name):
            return None
        return self.target


def _location(value: Any) -> S3Location | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return S3Location.parse(value)
    if isinstance(value, dict) and "uri" in value and "bucket" not in value:
        return S3Location.parse(str(value["uri"]))
    return S3Location.model_validate(value)


def parse_alias(body: dict[str, Any]) -> ModelTarget:
    """A registry alias answer as a target. Accepts locations as `{bucket, key}` objects or `s3://` URIs."""
    artifact = _location(body.get("artifact") or body.get("artifact_uri"))
    sha = body.get("artifact_sha256") or body.get("sha256")
    if artifact is None or not sha:
        raise RegistryUnavailable(f"alias answer without artifact or sha256: {sorted(body)}")
    lineage = dict(body["lineage"]) if isinstance(body.get("lineage"), dict) else {}
    for field_name in ("dataset", "dataset_version", "revision", "updated_at"):
        if body.get(field_name) is not None:
            lineage[f"registry_{field_name}" if field_name in ("revision", "updated_at") else field_name] = body[
                field_name
            ]
    transformer = _location(body.get("transformer") or lineage.get("transformer"))
    return ModelTarget(
        model_name=str(body.get("model_name") or body.get("name")),
        version=int(body["version"]),
        artifact=artifact,
        sha256=str(sha),
        transformer=transformer,
        model_card=_location(body.get("model_card")),
        labels=tuple(body.get("labels") or ()),
        lineage=lineage,
    )


class HttpAliases:
    """The registry's alias API over HTTP."""

    def __init__(self, client: httpx.AsyncClient, base_url: str, environment: str) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.environment = environment

    async def current(self, model_name: str | None) -> ModelTarget | None:
        if model_name:
            body = await self._get(f"/v1/models/{model_name}/aliases/{self.environment}")
            return parse_alias(body) if body is not None else None
        return await self._latest()

    async def _get(self, path: str) -> Any:
        try:
            answer = await self.client.get(self.base_url + path)
        except httpx.HTTPError as exc:
            raise RegistryUnavailable(f"registry at {self.base_url} unreachable: {exc}") from exc
        if answer.status_code == 404:
            return None
        if answer.status_code != 200:
            raise RegistryUnavailable(f"registry answered {answer.status_code} for {path}: {answer.text[:200]}")
        return answer.json()

    async def _latest(self) -> ModelTarget | None:
        """No model name configured: the model whose alias in this environment moved last."""
        listing = await self._get("/v1/models") or {}
        names = [m["model_name"] for m in listing.get("models", []) if self.environment in (m.get("aliases") or {})]
        bodies = [await self._get(f"/v1/models/{name}/aliases/{self.environment}") for name in names]
        found = [body for body in bodies if body is not None]
        if not found:
            return None
        return parse_alias(max(found, key=lambda body: float(body.get("updated_at") or 0)))
