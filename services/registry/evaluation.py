"""Evaluating model versions on frozen test sets, off the event loop.

Test sets come from the data set's manifest: `test.txt` (and `test.slices.jsonl`) are downloaded once, checked
against the sha256 the manifest recorded (a test set that changed is not the frozen one), cached on disk, and their
labels and slice values kept in the catalog. Models are downloaded once into a cache named by their sha256 and loaded
only through `shared.classifier.load_verified`, in worker threads: loading and predicting are CPU-bound and must never
run on the event loop. Predictions are cached per (version, test set), so a comparison never runs a model twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.registry.artifacts import ArtifactStore
from services.registry.store import Catalog
from shared.classifier import IntegrityError, load_verified, predict, read_fasttext, sha256_file
from shared.datasets import Manifest
from shared.events import S3Location

log = logging.getLogger(__name__)


class TestSetChanged(RuntimeError):
    """The test split's bytes differ from what its manifest recorded: it is not the frozen test set any more."""


@dataclass(frozen=True)
class TestSet:
    dataset: str
    version: str
    labels: list[str]  # true label per row
    slices: dict[str, list[str]]
    label_order: list[str]
    path: Path  # the verified local copy (texts are read from it when a model must predict)

    @property
    def key(self) -> str:
        return f"{self.dataset}@{self.version}"


def _parse(path: Path, slices_path: Path | None) -> tuple[list[str], dict[str, list[str]]]:
    rows = read_fasttext(path.read_text(encoding="utf-8").splitlines())
    columns: dict[str, list[str]] = {}
    if slices_path is not None:
        lines = [json.loads(line) for line in slices_path.read_text(encoding="utf-8").splitlines() if line.strip()]
        if len(lines) == len(rows):  # aligned with the corpus line by line, or unusable
            for name in lines[0] if lines else {}:
                columns[name] = [str(line.get(name) or "") for line in lines]
    return [label for label, _ in rows], columns


def _texts(path: Path) -> list[str]:
    return [text for _, text in read_fasttext(path.read_text(encoding="utf-8").splitlines())]


def _predict_all(model_path: Path, sha256: str, test_paths: Sequence[Path], batch_size: int) -> list[list[str]]:
    """Runs in a worker thread: load the verified model once, predict every test set."""
    model = load_verified(model_path, sha256)
    return [[p.label for p in predict(model, _texts(path), batch_size)] for path in test_paths]


class Evaluator:
    def __init__(
        self, catalog: Catalog, store: ArtifactStore, cache_dir: Path, executor: Executor, batch_size: int = 64
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.cache_dir = cache_dir
        self.executor = executor
        self.batch_size = batch_size
        self._locks: dict[str, asyncio.Lock] = {}

    async def _thread(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def _lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    # ------------------------------------------------------------------------------------------ test sets
    async def manifest(self, uri: str) -> Manifest:
        return Manifest.model_validate_json(await self.store.read(S3Location.parse(uri)))

    async def testset(self, manifest_uri: str) -> TestSet:
        """The frozen test split of a prepared data set version, verified against its manifest."""
        manifest = await self.manifest(manifest_uri)
        bucket = S3Location.parse(manifest_uri).bucket
        folder = self.cache_dir / "testsets" / manifest.dataset / manifest.version
        async with self._lock(f"ts:{manifest.dataset}@{manifest.version}"):
            test_path = await self._verified(bucket, manifest.files["test"].key, manifest.files["test"].sha256, folder)
            slices_path = None
            if entry := manifest.slices.get("test"):
                slices_path = await self._verified(bucket, entry.key, entry.sha256, folder)
            labels, slices = await self._thread(_parse, test_path, slices_path)
            if await self.catalog.testset(manifest.dataset, manifest.version) is None:
                sha = manifest.files["test"].sha256
                await self.catalog.put_testset(manifest.dataset, manifest.version, sha, labels, slices)
        return TestSet(manifest.dataset, manifest.version, labels, slices, list(manifest.labels), test_path)

    async def _verified(self, bucket: str, key: str, sha256: str, folder: Path) -> Path:
        path = folder / Path(key).name
        if path.exists() and await self._thread(sha256_file, path) == sha256:
            return path
        actual = await self.store.download(S3Location(bucket=bucket, key=key), path)
        if actual != sha256:
            path.unlink(missing_ok=True)
            raise TestSetChanged(f"s3://{bucket}/{key} has sha256 {actual}, its manifest recorded {sha256}")
        return path

    # -------------------------------------------------------------------------------------------- models
    async def local_model(self, artifact: S3Location, sha256: str) -> Path:
        """The artifact in the local cache, downloaded if missing; IntegrityError when its bytes do not match."""
        path = self.cache_dir / "artifacts" / f"{sha256}.pt"
        async with self._lock(f"model:{sha256}"):
            if path.exists() and await self._thread(sha256_file, path) == sha256:
                return path
            actual = await self.store.download(artifact, path)
            if actual != sha256:
                path.unlink(missing_ok=True)
                raise IntegrityError(artifact.uri, sha256, actual)
        return path

    async def predictions(self, version: dict[str, Any], testsets: Sequence[TestSet]) -> dict[str, list[str]]:
        """Predicted labels of a version on each test set (cached; computed in a worker thread when missing)."""
        out: dict[str, list[str]] = {}
        missing: list[TestSet] = []
        for ts in testsets:
            cached = await self.catalog.predicted(version["model_name"], version["version"], ts.dataset, ts.version)
            if cached is not None and len(cached) == len(ts.labels):
                out[ts.key] = cached
            else:
                missing.append(ts)
        if missing:
            path = await self.local_model(S3Location.parse(version["artifact_uri"]), version["artifact_sha256"])
            log.info("evaluating %s v%s on %s", version["model_name"], version["version"], [t.key for t in missing])
            computed = await self._thread(
                _predict_all, path, version["artifact_sha256"], [t.path for t in missing], self.batch_size
            )
            for ts, labels in zip(missing, computed, strict=True):
                await self.catalog.put_predicted(
                    version["model_name"], version["version"], ts.dataset, ts.version, labels
                )
                out[ts.key] = labels
        return out
