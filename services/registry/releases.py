"""Approvals, verified environment copies, aliases, the append-only ledger and the event outbox.

An alias is the version an environment serves. It only moves by compare-and-set on its `revision`, in the same
transaction as its ledger entry and the event announcing it (the outbox), so two concurrent promotions cannot both
win, and a change is never recorded without its history and its event.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from services.registry.db import Database, row
from services.registry.tables import aliases, approvals, deployments, ledger, outbox
from shared.events import Envelope
from shared.publisher import EventPublisher

log = logging.getLogger(__name__)


class AliasConflict(RuntimeError):
    """The alias moved since it was read: another promotion or rollback won."""

    def __init__(self, model_name: str, environment: str, current: int | None) -> None:
        super().__init__(f"{model_name}@{environment} changed meanwhile (now version {current})")
        self.current = current


class DecisionConflict(RuntimeError):
    """The approval was already decided (approving twice, approving what was rejected)."""

    def __init__(self, status: str, actor: str | None) -> None:
        super().__init__(f"already {status}" + (f" by {actor}" if actor else ""))
        self.status = status


@dataclass(frozen=True)
class Move:
    """One change of an alias, as the ledger records it."""

    model_name: str
    environment: str
    action: str  # promote, rollback
    from_version: int | None
    to_version: int
    actor: str
    reason: str


class Releases(Database):
    # ------------------------------------------------------------------------------------------ approvals
    async def request(self, model_name: str, version: int, environment: str, gates: dict[str, Any]) -> dict[str, Any]:
        """The approval record of (version, environment), created pending if absent; an existing one is kept."""
        key = _approval_key(model_name, version, environment)
        try:
            async with self.write() as conn:
                existing = row((await conn.execute(select(approvals).where(key))).mappings().first())
                if existing is not None:
                    return existing
                values = {"model_name": model_name, "version": version, "environment": environment}
                await conn.execute(
                    insert(approvals).values(
                        **values, status="pending", gates=gates, automatic=False, requested_at=self.clock()
                    )
                )
        except IntegrityError:
            pass
        found = await self.approval(model_name, version, environment)
        assert found is not None
        return found

    async def decide(
        self,
        model_name: str,
        version: int,
        environment: str,
        status: str,
        actor: str,
        reason: str,
        automatic: bool,
        event: Envelope,
    ) -> dict[str, Any]:
        """pending -> approved/rejected (compare-and-set), with its event in the outbox; DecisionConflict if decided."""
        key = _approval_key(model_name, version, environment)
        async with self.write() as conn:
            done = await conn.execute(
                update(approvals)
                .where(key, approvals.c.status == "pending")
                .values(status=status, actor=actor, reason=reason, automatic=automatic, decided_at=self.clock())
            )
            if done.rowcount != 1:
                current = row((await conn.execute(select(approvals).where(key))).mappings().first()) or {}
                raise DecisionConflict(current.get("status", "missing"), current.get("actor"))
            await self._stage(conn, event)
            decided = row((await conn.execute(select(approvals).where(key))).mappings().first())
        assert decided is not None
        return decided

    async def approval(self, model_name: str, version: int, environment: str) -> dict[str, Any] | None:
        async with self.read() as conn:
            query = select(approvals).where(_approval_key(model_name, version, environment))
            return row((await conn.execute(query)).mappings().first())

    async def approvals(self, model_name: str, version: int | None = None) -> list[dict[str, Any]]:
        query = select(approvals).where(approvals.c.model_name == model_name)
        if version is not None:
            query = query.where(approvals.c.version == version)
        async with self.read() as conn:
            return [dict(r) for r in (await conn.execute(query.order_by(approvals.c.id))).mappings()]

    # ---------------------------------------------------------------------------------------- deployments
    async def record_copy(
        self, model_name: str, version: int, environment: str, artifact_uri: str, sha256: str, files: dict[str, str]
    ) -> None:
        key = (
            (deployments.c.model_name == model_name)
            & (deployments.c.version == version)
            & (deployments.c.environment == environment)
        )
        values = {"artifact_uri": artifact_uri, "artifact_sha256": sha256, "files": files, "verified_at": self.clock()}
        try:
            async with self.write() as conn:
                if (await conn.execute(update(deployments).where(key).values(**values))).rowcount == 0:
                    ids = {"model_name": model_name, "version": version, "environment": environment}
                    await conn.execute(insert(deployments).values(**ids, **values))
        except IntegrityError:  # a concurrent promotion of the same version recorded the same verified copy
            pass

    async def copy_of(self, model_name: str, version: int, environment: str) -> dict[str, Any] | None:
        query = select(deployments).where(
            deployments.c.model_name == model_name,
            deployments.c.version == version,
            deployments.c.environment == environment,
        )
        async with self.read() as conn:
            return row((await conn.execute(query)).mappings().first())

    async def copies(self, model_name: str, version: int) -> list[dict[str, Any]]:
        query = select(deployments).where(deployments.c.model_name == model_name, deployments.c.version == version)
        async with self.read() as conn:
            return [dict(r) for r in (await conn.execute(query)).mappings()]

    # -------------------------------------------------------------------------------------------- aliases
    async def alias(self, model_name: str, environment: str) -> dict[str, Any] | None:
        async with self.read() as conn:
            query = select(aliases).where(aliases.c.model_name == model_name, aliases.c.environment == environment)
            return row((await conn.execute(query)).mappings().first())

    async def aliases(self, model_name: str | None = None) -> list[dict[str, Any]]:
        query = select(aliases).order_by(aliases.c.model_name, aliases.c.environment)
        if model_name is not None:
            query = query.where(aliases.c.model_name == model_name)
        async with self.read() as conn:
            return [dict(r) for r in (await conn.execute(query)).mappings()]

    async def move(self, move: Move, expected_revision: int | None, event: Envelope) -> dict[str, Any]:
        """Compare-and-set the alias from `expected_revision` (None: no alias yet) to `move.to_version`, append the
        ledger entry and stage the event, all in one transaction. AliasConflict when someone else moved it first."""
        try:
            async with self.write() as conn:
                await self._cas(conn, move, expected_revision)
                entry = {
                    "model_name": move.model_name,
                    "environment": move.environment,
                    "action": move.action,
                    "from_version": move.from_version,
                    "to_version": move.to_version,
                    "actor": move.actor,
                    "reason": move.reason,
                    "at": self.clock(),
                    "event_id": event.id,
                }
                await conn.execute(insert(ledger).values(**entry))
                await self._stage(conn, event)
        except IntegrityError:  # the first promotion of this alias raced another first promotion, and lost
            current = await self.alias(move.model_name, move.environment)
            raise AliasConflict(move.model_name, move.environment, current["version"] if current else None) from None
        return entry

    async def _cas(self, conn: AsyncConnection, move: Move, expected_revision: int | None) -> None:
        now = self.clock()
        if expected_revision is None:
            values = {"model_name": move.model_name, "environment": move.environment}
            await conn.execute(insert(aliases).values(**values, version=move.to_version, revision=1, updated_at=now))
            return
        done = await conn.execute(
            update(aliases)
            .where(
                aliases.c.model_name == move.model_name,
                aliases.c.environment == move.environment,
                aliases.c.revision == expected_revision,
            )
            .values(version=move.to_version, revision=aliases.c.revision + 1, updated_at=now)
        )
        if done.rowcount != 1:
            current = row(
                (
                    await conn.execute(
                        select(aliases).where(
                            aliases.c.model_name == move.model_name, aliases.c.environment == move.environment
                        )
                    )
                )
                .mappings()
                .first()
            )
            raise AliasConflict(move.model_name, move.environment, current["version"] if current else None)

    # --------------------------------------------------------------------------------------------- ledger
    async def ledger(
        self, model_name: str | None = None, environment: str | None = None, limit: int = 500
    ) -> list[dict[str, Any]]:
        """Alias changes, oldest first."""
        query = select(ledger).order_by(ledger.c.at, ledger.c.id)
        if model_name is not None:
            query = query.where(ledger.c.model_name == model_name)
        if environment is not None:
            query = query.where(ledger.c.environment == environment)
        async with self.read() as conn:
            rows = [dict(r) for r in (await conn.execute(query)).mappings()]
        return rows[-limit:]

    async def served_at(self, model_name: str, environment: str, moment: float) -> dict[str, Any] | None:
        """The ledger entry in force at `moment` (the last change at or before it); None: nothing served then."""
        query = (
            select(ledger)
            .where(ledger.c.model_name == model_name, ledger.c.environment == environment, ledger.c.at <= moment)
            .order_by(ledger.c.at.desc(), ledger.c.id.desc())
            .limit(1)
        )
        async with self.read() as conn:
            return row((await conn.execute(query)).mappings().first())

    # --------------------------------------------------------------------------------------------- outbox
    async def announce(self, event: Envelope) -> None:
        """Stage an event that goes with no state change of its own (an approval request)."""
        async with self.write() as conn:
            await self._stage(conn, event)

    async def _stage(self, conn: AsyncConnection, event: Envelope) -> None:
        try:
            async with conn.begin_nested():
                await conn.execute(
                    insert(outbox).values(event_id=event.id, envelope=event.model_dump_json(), created_at=self.clock())
                )
        except IntegrityError:  # the same (deterministic) event is already staged
            pass

    async def flush(self, publisher: EventPublisher, limit: int = 100) -> int:
        """Publish staged events, oldest first; each is marked published only after SNS accepted it."""
        async with self.read() as conn:
            query = select(outbox).where(outbox.c.published_at.is_(None)).order_by(outbox.c.id).limit(limit)
            pending = [dict(r) for r in (await conn.execute(query)).mappings()]
        for staged in pending:
            await publisher.publish(Envelope.model_validate_json(staged["envelope"]))
            async with self.write() as conn:
                await conn.execute(update(outbox).where(outbox.c.id == staged["id"]).values(published_at=self.clock()))
        return len(pending)

    async def prune(self, keep_seconds: float = 7 * 86400) -> None:
        """Forget events published long ago (the ledger, not the outbox, is the history)."""
        async with self.write() as conn:
            await conn.execute(delete(outbox).where(outbox.c.published_at < self.clock() - keep_seconds))


def _approval_key(model_name: str, version: int, environment: str) -> Any:
    return (
        (approvals.c.model_name == model_name)
        & (approvals.c.version == version)
        & (approvals.c.environment == environment)
    )


def event_id(*parts: object) -> str:
    """A deterministic event id for a state change (redoing it re-announces the same event)."""
    return uuid.uuid5(uuid.NAMESPACE_URL, "registry:" + ":".join(str(p) for p in parts)).hex
