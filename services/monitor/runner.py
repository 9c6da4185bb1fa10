"""One drift run per environment: reference against the window's traffic, reports to S3, verdict, severity, events.

The verdict is `drift` when any check drifted, `error` when a check failed and none drifted (never a silent
`no_drift`), `not_enough_data` when the window has fewer records than `min_samples` (or no model or no check could
decide), `no_drift` otherwise. A drift is `high` severity once it persisted for `persistence_runs` consecutive
decisive runs (drift/no_drift) of the same model version; runs that could not decide neither extend nor break a
streak. A run's id derives from the triggering event and the environment, so a redelivered trigger finds its run
(and re-announces it with the same event ids) instead of running it twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.monitor.checks import CheckResult, run_checks
from services.monitor.current import CurrentWindow, WindowQuery, read_window
from services.monitor.reference import (
    ReferenceUnavailable,
    build_reference,
    load_reference,
    reference_prefix,
    save_reference,
)
from services.monitor.reports import HTML_TYPE, JSON_TYPE, render, run_links, run_prefix, summary_json
from services.monitor.settings import MonitorSettings
from services.monitor.storage import ObjectStore
from services.monitor.store import MonitorStore
from shared.bus import HandlerContext
from shared.events import DriftChecked, DriftCheckScheduled, DriftDetected, S3Location, TrainingRequested
from shared.settings import CommonSettings

log = logging.getLogger(__name__)
_RUN_IDS = uuid.UUID("3b0d8f3e-2a59-4c1e-9a0f-6d5f0c8e7a21")


def run_id_for(event_id: str, environment: str) -> str:
    return uuid.uuid5(_RUN_IDS, f"{event_id}:{environment}").hex[:16]


def aggregate(results: list[CheckResult]) -> tuple[str, str]:
    """The run's verdict and reason from its checks."""
    drifted = [r.name for r in results if r.status == "drift"]
    errors = [f"{r.name}: {r.reason}" for r in results if r.status == "error"]
    if drifted:
        return "drift", f"drift in {', '.join(drifted)}"
    if errors:
        return "error", "checks failed: " + "; ".join(errors)
    if not any(r.status == "no_drift" for r in results):
        return "not_enough_data", "no check could decide"
    return "no_drift", ""


def _ts(moment: datetime | None) -> float | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _dt(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@dataclass
class DriftMonitor:
    """Records references and runs drift checks; its dependencies are passed in (see app.bootstrap)."""

    settings: MonitorSettings
    common: CommonSettings
    objects: ObjectStore
    store: MonitorStore
    executor: Executor
    report_base_url: str

    # ------------------------------------------------------------------------------------------ reference
    async def record_reference(
        self, env: str, model_name: str, version: int, artifact: S3Location, promoted_at: float
    ) -> dict[str, Any]:
        """Build and store the reference of a model promoted (or rolled back) to `env`. A missing or unreadable
        object is recorded as an unavailable reference with its reason (runs then say so); S3 errors raise."""
        bucket = self.common.bucket_for(env)
        prefix = reference_prefix(env, model_name, version)
        row: dict[str, Any] = {"environment": env, "model_name": model_name, "version": version, "bucket": bucket}
        try:
            reference = await build_reference(
                self.objects, env, model_name, version, artifact, self.settings.reference_size, self.settings.seed
            )
            await save_reference(self.objects, bucket, reference)
            row.update(status="ready", reason="; ".join(reference.notes), dataset=reference.dataset)
        except ReferenceUnavailable as exc:
            log.warning("reference of %s v%s in %s unavailable: %s", model_name, version, env, exc)
            row.update(status="unavailable", reason=str(exc), dataset="")
        row.update(prefix=prefix, promoted_at=promoted_at, recorded_at=time.time())
        await self.store.save_reference(row)
        return row

    # ----------------------------------------------------------------------------------------------- runs
    async def check(
        self, request: DriftCheckScheduled, event_id: str, ctx: HandlerContext | None
    ) -> list[dict[str, Any]]:
        """Run the check for the requested environment, or for every environment a model was promoted to."""
        environments = [request.environment] if request.environment else await self.store.environments()
        if not environments:
            log.info("no model has been promoted to any environment: nothing to check")
        return [await self.run(env, event_id, request, ctx) for env in environments]

    async def run(
        self, env: str, event_id: str, request: DriftCheckScheduled, ctx: HandlerContext | None
    ) -> dict[str, Any]:
        run_id = run_id_for(event_id, env)
        active = await self.store.active_reference(env)
        end = _ts(request.window_end) or time.time()
        start = _ts(request.window_start) or await self._default_start(env, active, end)
        row = await self.store.start_run(
            {
                "id": run_id,
                "event_id": event_id,
                "environment": env,
                "status": "running",
                "trigger": request.requested_by,
                "model_name": active["model_name"] if active else None,
                "version": active["version"] if active else None,
                "window_start": min(start, end),
                "window_end": end,
                "created_at": time.time(),
            }
        )
        if row["status"] != "done":
            row = await self.store.finish_run(run_id, {**await self._execute(row, active), "finished_at": time.time()})
            await self.objects.put(
                self.common.bucket_for(env), run_prefix(env, run_id) + "summary.json", summary_json(row), JSON_TYPE
            )
        log.info("drift run %s in %s: %s %s", run_id, env, row["verdict"], row["reason"], extra={"run_id": run_id})
        if ctx is not None:
            await self._announce(row, ctx)
        return row

    async def _default_start(self, env: str, active: dict[str, Any] | None, end: float) -> float:
        if active is None:
            return end
        previous = await self.store.previous_decisive(env, active["model_name"], active["version"], end, exclude="")
        return float(previous["window_end"]) if previous else float(active["promoted_at"])

    async def _execute(self, row: dict[str, Any], active: dict[str, Any] | None) -> dict[str, Any]:
        env = row["environment"]
        if active is None:
            return {"verdict": "not_enough_data", "reason": f"no model has been promoted to {env}: nothing to compare"}
        if active["status"] != "ready":
            return {"verdict": "error", "reason": f"reference unavailable: {active['reason']}"}
        try:
            reference = await load_reference(self.objects, active["bucket"], active["prefix"])
        except ReferenceUnavailable as exc:
            return {"verdict": "error", "reason": str(exc)}
        window = await read_window(self.objects, self._query(row, active), datetime.now(UTC))
        outcome: dict[str, Any] = {"counts": window.counts()}
        if window.records < self.settings.min_samples:
            return {**outcome, "verdict": "not_enough_data", "reason": self._too_few(window, row)}
        loop = asyncio.get_running_loop()
        results = await loop.run_in_executor(
            self.executor, run_checks, reference, window.rows, window.labelled, self.settings, self._seed(row)
        )
        verdict, reason = aggregate(results)
        if window.corrupted:
            reason = f"{reason}; {window.corrupted} corrupted lines skipped".lstrip("; ")
        reports = await self._store_reports(env, row["id"], results)
        severity = await self._severity(row, verdict)
        checks = {r.name: r.summary() for r in results}
        return {**outcome, **severity, "verdict": verdict, "reason": reason, "checks": checks, "reports": reports}

    def _query(self, row: dict[str, Any], active: dict[str, Any]) -> WindowQuery:
        return WindowQuery(
            bucket=self.common.bucket_for(row["environment"]),
            environment=row["environment"],
            model_name=active["model_name"],
            version=int(active["version"]),
            start=_dt(row["window_start"]),
            end=_dt(row["window_end"]),
            sample_size=self.settings.sample_size,
            seed=self.settings.seed,
            feedback_grace_days=self.settings.feedback_grace_days,
        )

    def _seed(self, row: dict[str, Any]) -> int:
        key = f"{self.settings.seed}:{row['environment']}:{row['window_start']}:{row['window_end']}"
        return uuid.uuid5(_RUN_IDS, key).int % (2**31)

    def _too_few(self, window: CurrentWindow, row: dict[str, Any]) -> str:
        reason = (
            f"{window.records} records of {row['model_name']} v{row['version']} in the window, "
            f"fewer than {self.settings.min_samples} (MONITOR_MIN_SAMPLES)"
        )
        if window.corrupted:
            reason += f"; {window.corrupted} corrupted lines skipped"
        return reason

    async def _store_reports(self, env: str, run_id: str, results: list[CheckResult]) -> dict[str, dict[str, str]]:
        bucket, prefix = self.common.bucket_for(env), run_prefix(env, run_id)
        loop = asyncio.get_running_loop()
        out = {}
        for result in results:
            rendered = await loop.run_in_executor(self.executor, render, result)
            result.snapshot = None  # the snapshot holds the frames: let it go once rendered
            if rendered is None:
                continue
            page, data = rendered
            await self.objects.put(bucket, f"{prefix}{result.name}.html", page, HTML_TYPE)
            await self.objects.put(bucket, f"{prefix}{result.name}.json", data, JSON_TYPE)
            out[result.name] = {
                "html": f"s3://{bucket}/{prefix}{result.name}.html",
                "json": f"s3://{bucket}/{prefix}{result.name}.json",
            }
        return out

    async def _severity(self, row: dict[str, Any], verdict: str) -> dict[str, Any]:
        if verdict != "drift":
            return {"consecutive": 0, "level": None, "action": None}
        previous = await self.store.previous_decisive(
            row["environment"], row["model_name"], row["version"], row["window_end"], exclude=row["id"]
        )
        consecutive = int(previous["consecutive"]) + 1 if previous and previous["verdict"] == "drift" else 1
        high = consecutive >= self.settings.persistence_runs
        # Retrain once per streak: when it first becomes high, not again at every later run of the same streak.
        retrain = high and self.settings.retrain_policy == "retrain" and consecutive == self.settings.persistence_runs
        return {
            "consecutive": consecutive,
            "level": "high" if high else "warning",
            "action": "retrain" if retrain else "alert",
        }

    # ----------------------------------------------------------------------------------------- announcing
    def links(self, run: dict[str, Any]) -> dict[str, str]:
        return run_links(self.report_base_url, run["id"], list(run["reports"]))

    async def _announce(self, run: dict[str, Any], ctx: HandlerContext) -> None:
        """drift.checked always; drift.detected on drift; training.requested when the policy says retrain."""
        report_url = self.links(run)["index"]
        checks = {name: {k: v for k, v in c.items() if k != "details"} for name, c in run["checks"].items()}
        common = {"run_id": run["id"], "environment": run["environment"], "model_name": run["model_name"]}
        await ctx.emit(
            DriftChecked(
                **common,
                version=run["version"],
                verdict=run["verdict"],
                reason=run["reason"],
                checks=checks,
                report_url=report_url,
                window_start=_dt(run["window_start"]),
                window_end=_dt(run["window_end"]),
                counts=run["counts"],
            )
        )
        if run["verdict"] != "drift":
            return
        drifted = [name for name, c in run["checks"].items() if c["status"] == "drift"]
        await ctx.emit(
            DriftDetected(
                **common,
                version=run["version"],
                level=run["level"],
                drifted_checks=drifted,
                consecutive_runs=run["consecutive"],
                action=run["action"],
                report_url=report_url,
            )
        )
        if run["action"] == "retrain":
            await self._request_training(run, drifted, ctx)

    async def _request_training(self, run: dict[str, Any], drifted: list[str], ctx: HandlerContext) -> None:
        active = await self.store.active_reference(run["environment"])
        if active is None or not active["dataset"]:
            log.warning("retraining policy: no data set known for %s; alert only", run["model_name"])
            return
        await ctx.emit(
            TrainingRequested(
                dataset=active["dataset"],
                version=None,  # the latest prepared version
                reason=(
                    f"drift in {run['environment']} ({', '.join(drifted)}) persisted for {run['consecutive']} runs "
                    f"(run {run['id']})"
                ),
                requested_by="monitor",
            )
        )
