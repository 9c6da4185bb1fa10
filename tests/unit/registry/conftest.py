"""In-memory fakes of the registry's own ports, and a registry assembled on them (with a SQLite file database)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from services.registry import migrate
from services.registry.artifacts import MissingObject
from services.registry.auth import Access
from services.registry.deps import RegistryDeps
from services.registry.evaluation import Evaluator
from services.registry.releases import Releases
from services.registry.settings import RegistrySettings
from services.registry.store import Catalog
from services.registry.tracking import Tracker
from shared.db import create_engine
from shared.events import S3Location
from shared.publisher import MemoryPublisher
from shared.settings import CommonSettings

LENIENT = {
    "dev": {"auto_approve": True, "min_value": 0.0, "max_slice_gap": 1.0},
    "prod": {"four_eyes": True, "min_value": 0.0, "max_slice_gap": 1.0},
}


class FakeArtifacts:
    """ArtifactStore in a dict: {(bucket, key): bytes}."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}

    def put(self, uri: str, data: bytes) -> str:
        loc = S3Location.parse(uri)
        self.objects[(loc.bucket, loc.key)] = data
        return hashlib.sha256(data).hexdigest()

    def _get(self, location: S3Location) -> bytes:
        try:
            return self.objects[(location.bucket, location.key)]
        except KeyError:
            raise MissingObject(location.uri) from None

    async def sha256(self, location: S3Location) -> str:
        return hashlib.sha256(self._get(location)).hexdigest()

    async def read(self, location: S3Location) -> bytes:
        return self._get(location)

    async def download(self, location: S3Location, path: Path) -> str:
        data = self._get(location)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return hashlib.sha256(data).hexdigest()

    async def copy(self, source: S3Location, target: S3Location) -> None:
        self.objects[(target.bucket, target.key)] = self._get(source)

    async def delete(self, location: S3Location) -> None:
        self.objects.pop((location.bucket, location.key), None)

    async def exists(self, location: S3Location) -> bool:
        return (location.bucket, location.key) in self.objects

    async def keys(self, bucket: str, prefix: str) -> list[str]:
        return sorted(k for b, k in self.objects if b == bucket and k.startswith(prefix))

    async def presign(self, location: S3Location, seconds: int) -> str:
        return f"https://signed.example/{location.bucket}/{location.key}?ttl={seconds}"


async def build_deps(
    url: str, store: FakeArtifacts, tmp: Path, policy: dict[str, Any] | None = None, **settings: Any
) -> RegistryDeps:
    engine = create_engine(url)
    await migrate.upgrade(engine)
    registry = RegistrySettings(
        policy=policy or LENIENT,
        tokens='{"ana-approver-token-0001": {"actor": "ana", "roles": ["approver"]}}',
        **settings,
    )
    catalog = Catalog(engine)
    return RegistryDeps(
        settings=registry,
        common=CommonSettings(namespace="unit"),
        catalog=catalog,
        releases=Releases(engine),
        store=store,
        evaluator=Evaluator(catalog, store, tmp / "cache", ThreadPoolExecutor(1)),
        publisher=MemoryPublisher(),
        tracker=Tracker("p", None),
        access=Access.from_settings(registry),
        base_url="http://registry.test",
    )


async def add_version(
    deps: RegistryDeps, store: FakeArtifacts, model: str, candidate: str, data: bytes = b"model bytes"
) -> dict[str, Any]:
    """A registered version whose artifact is in the fake store, marked reviewed and approved everywhere."""
    uri = f"s3://unit-dev/models/{model}/{candidate}/model.pt"
    sha = store.put(uri, data)
    values = {
        "model_name": model,
        "candidate_id": candidate,
        "status": "reviewed",
        "status_reason": None,
        "study_id": "s",
        "dataset": "d",
        "dataset_version": "v",
        "dataset_digest": "g",
        "lineage_verified": True,
        "lineage": {"artifact_verified": True, "card_problems": []},
        "artifact_uri": uri,
        "artifact_sha256": sha,
        "triggered_by": "ana",
        "correlation_id": "cid",
        "tracking": {},
    }
    row, _ = await deps.catalog.register(values)
    return row


async def approve_everywhere(deps: RegistryDeps, row: dict[str, Any], actor: str = "bob") -> None:
    from services.registry import decisions

    for env in ("dev", "staging", "prod"):
        await deps.releases.request(row["model_name"], row["version"], env, {"gates": []})
        await decisions.decide(deps, row, env, "approved", actor, "ok")


@pytest.fixture
def store() -> FakeArtifacts:
    return FakeArtifacts()


@pytest.fixture
async def deps(store: FakeArtifacts, tmp_path: Path) -> AsyncIterator[RegistryDeps]:
    built = await build_deps(f"sqlite+aiosqlite:///{tmp_path / 'registry.db'}", store, tmp_path)
    yield built
    await built.catalog.engine.dispose()
