"""The catalog: data sets the registry has seen, model versions with their lineage, frozen test sets, cached
predictions and evaluation reports."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from services.registry.db import Database, row
from services.registry.tables import datasets, evaluations, predictions, testsets, versions
from shared.events import DatasetPrepared


class VersionConflict(RuntimeError):
    """Two registrations took the same version number at once; the loser retries with the next one."""


class Catalog(Database):
    # ------------------------------------------------------------------------------------------ data sets
    async def record_dataset(self, prepared: DatasetPrepared, recorded_from: str) -> bool:
        """Remember a prepared data set version; False when it was already known."""
        values = {
            "dataset": prepared.dataset,
            "version": prepared.version,
            "output_digest": prepared.output_digest,
            "manifest_uri": prepared.manifest.uri,
            "labels": list(prepared.labels),
            "slice_columns": list(prepared.slice_columns),
            "splits": {k: v.model_dump() for k, v in prepared.splits.items()},
            "recorded_from": recorded_from,
            "recorded_at": self.clock(),
        }
        try:
            async with self.write() as conn:
                if await self._dataset(conn, prepared.dataset, prepared.version) is not None:
                    return False
                await conn.execute(insert(datasets).values(**values))
        except IntegrityError:  # another replica recorded it meanwhile
            return False
        return True

    async def dataset(self, dataset: str, version: str) -> dict[str, Any] | None:
        async with self.read() as conn:
            return await self._dataset(conn, dataset, version)

    async def _dataset(self, conn: Any, dataset: str, version: str) -> dict[str, Any] | None:
        query = select(datasets).where(datasets.c.dataset == dataset, datasets.c.version == version)
        return row((await conn.execute(query)).mappings().first())

    # ------------------------------------------------------------------------------------------- versions
    async def by_candidate(self, candidate_id: str) -> dict[str, Any] | None:
        async with self.read() as conn:
            query = select(versions).where(versions.c.candidate_id == candidate_id)
            return row((await conn.execute(query)).mappings().first())

    async def register(self, values: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Insert a version with the next number of its model; (row, created). Idempotent on `candidate_id`."""
        for _ in range(20):
            existing = await self.by_candidate(values["candidate_id"])
            if existing is not None:
                return existing, False
            try:
                async with self.write() as conn:
                    top = select(func.max(versions.c.version)).where(versions.c.model_name == values["model_name"])
                    number = int((await conn.execute(top)).scalar() or 0) + 1
                    await conn.execute(insert(versions).values(**values, version=number, created_at=self.clock()))
            except IntegrityError:  # the number (or the candidate) was taken by a concurrent registration
                continue
            created = await self.by_candidate(values["candidate_id"])
            assert created is not None
            return created, True
        raise VersionConflict(f"could not allocate a version of {values['model_name']}")

    async def version(self, model_name: str, version: int) -> dict[str, Any] | None:
        async with self.read() as conn:
            query = select(versions).where(versions.c.model_name == model_name, versions.c.version == version)
            return row((await conn.execute(query)).mappings().first())

    async def versions(self, model_name: str) -> list[dict[str, Any]]:
        async with self.read() as conn:
            query = select(versions).where(versions.c.model_name == model_name).order_by(versions.c.version.desc())
            return [dict(r) for r in (await conn.execute(query)).mappings()]

    async def models(self) -> list[dict[str, Any]]:
        """One row per model name: how many versions, the latest, when."""
        query = (
            select(
                versions.c.model_name,
                func.count().label("versions"),
                func.max(versions.c.version).label("latest_version"),
                func.max(versions.c.created_at).label("updated_at"),
            )
            .group_by(versions.c.model_name)
            .order_by(versions.c.model_name)
        )
        async with self.read() as conn:
            return [dict(r) for r in (await conn.execute(query)).mappings()]

    async def set_status(self, model_name: str, version: int, status: str, reason: str | None = None) -> None:
        async with self.write() as conn:
            await conn.execute(
                update(versions)
                .where(versions.c.model_name == model_name, versions.c.version == version)
                .values(status=status, status_reason=reason)
            )

    async def set_tracking(self, model_name: str, version: int, tracking: dict[str, Any]) -> None:
        async with self.write() as conn:
            await conn.execute(
                update(versions)
                .where(versions.c.model_name == model_name, versions.c.version == version)
                .values(tracking=tracking)
            )

    # ------------------------------------------------------------------------------- test sets, predictions
    async def testset(self, dataset: str, version: str) -> dict[str, Any] | None:
        async with self.read() as conn:
            query = select(testsets).where(testsets.c.dataset == dataset, testsets.c.version == version)
            return row((await conn.execute(query)).mappings().first())

    async def put_testset(
        self, dataset: str, version: str, sha256: str, labels: list[str], slices: dict[str, list[str]]
    ) -> None:
        values = {"dataset": dataset, "version": version, "sha256": sha256, "labels": labels, "slices": slices}
        await self._insert_once(testsets, {**values, "created_at": self.clock()})

    async def predicted(self, model_name: str, version: int, dataset: str, dataset_version: str) -> list[str] | None:
        query = select(predictions.c.predicted).where(
            predictions.c.model_name == model_name,
            predictions.c.version == version,
            predictions.c.dataset == dataset,
            predictions.c.dataset_version == dataset_version,
        )
        async with self.read() as conn:
            found = (await conn.execute(query)).scalar()
        return list(found) if found is not None else None

    async def put_predicted(
        self, model_name: str, version: int, dataset: str, dataset_version: str, predicted: list[str]
    ) -> None:
        values = {"model_name": model_name, "version": version, "dataset": dataset, "dataset_version": dataset_version}
        await self._insert_once(predictions, {**values, "predicted": predicted, "created_at": self.clock()})

    async def _insert_once(self, table: Any, values: dict[str, Any]) -> None:
        """Insert a row that is the same whoever computes it (a replica that got there first wins)."""
        try:
            async with self.write() as conn:
                await conn.execute(insert(table).values(**values))
        except IntegrityError:
            pass

    # -------------------------------------------------------------------------------------------- reviews
    async def put_evaluation(self, model_name: str, version: int, report: dict[str, Any]) -> None:
        own = report["metrics"]
        values = {
            "accuracy": own["accuracy"],
            "macro_f1": own["macro_f1"],
            "mcc": own["mcc"],
            "max_slice_gap": report.get("max_slice_gap"),
            "report": report,
            "created_at": self.clock(),
        }
        async with self.write() as conn:
            key = (evaluations.c.model_name == model_name) & (evaluations.c.version == version)
            done = await conn.execute(update(evaluations).where(key).values(**values))
            if done.rowcount == 0:
                await conn.execute(insert(evaluations).values(model_name=model_name, version=version, **values))

    async def evaluation(self, model_name: str, version: int) -> dict[str, Any] | None:
        async with self.read() as conn:
            query = select(evaluations).where(evaluations.c.model_name == model_name, evaluations.c.version == version)
            return row((await conn.execute(query)).mappings().first())

    async def evaluations(self, model_name: str) -> dict[int, dict[str, Any]]:
        async with self.read() as conn:
            query = select(evaluations).where(evaluations.c.model_name == model_name)
            return {r["version"]: dict(r) for r in (await conn.execute(query)).mappings()}
