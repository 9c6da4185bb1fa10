"""The registry's one handler table.

`dataset.prepared`: remember the data set version (lineage of later candidates is checked against it).
`training.completed`: register the candidate, then review it against every environment's champion and let the
policy decide its approvals (and auto-promote to dev). Two handlers, so each step is done once (the bus keeps an
idempotency key per handler): a review that fails is retried without registering twice.
"""

from __future__ import annotations

import contextlib
import functools
import logging

from services.registry import decisions, lineage, promotion
from services.registry.deps import RegistryDeps
from services.registry.errors import RegistryError
from services.registry.evaluation import TestSetChanged
from services.registry.review import ReviewSettings, review
from shared.bus import HandlerContext, HandlerTable
from shared.classifier import IntegrityError
from shared.datasets import valid_dataset_name
from shared.events import (
    DatasetPrepared,
    Envelope,
    ModelEvaluated,
    ModelIntegrityFailed,
    ModelRegistered,
    ModelRejected,
    S3Location,
    TrainingCompleted,
)
from shared.messages import PoisonMessage
from shared.settings import ENVIRONMENTS

log = logging.getLogger(__name__)


async def record_dataset(event: Envelope, ctx: HandlerContext, deps: RegistryDeps) -> None:
    prepared = event.payload_as(DatasetPrepared)
    if await deps.catalog.record_dataset(prepared, "event"):
        log.info("recorded data set %s@%s", prepared.dataset, prepared.version)


async def register_candidate(event: Envelope, ctx: HandlerContext, deps: RegistryDeps) -> None:
    tc = event.payload_as(TrainingCompleted)
    if not valid_dataset_name(tc.model_name) or len(tc.candidate_id) > 128:
        # Names become S3 keys and URL paths; such an event can never be registered: the DLQ keeps it for a person.
        raise PoisonMessage(f"invalid model name {tc.model_name[:80]!r} or candidate id; expected [A-Za-z0-9._-]")
    row = await deps.catalog.by_candidate(tc.candidate_id)
    if row is None:
        problem, source = await lineage.verify_dataset(deps.catalog, deps.store, tc)
        card, card_problems = await lineage.read_card(deps.store, tc)
        actual = await lineage.artifact_sha256(deps.store, tc.artifact)
        status, reason = "registered", None
        if problem is not None:
            status, reason = "rejected", problem
        elif actual != tc.artifact_sha256:
            status = "integrity_failed"
            reason = (
                f"artifact {tc.artifact.uri} has sha256 {actual or '(missing)'}, the event says {tc.artifact_sha256}"
            )
        values = lineage.version_values(
            tc,
            card=card,
            card_problems=card_problems,
            actual_sha256=actual,
            dataset_source=source,
            status=status,
            reason=reason,
            correlation_id=ctx.correlation_id,
        )
        row, _created = await deps.catalog.register(values)
        log.info("registered %s v%s (%s)", row["model_name"], row["version"], row["status"])
    await ctx.emit(
        ModelRegistered(
            model_name=row["model_name"],
            version=row["version"],
            candidate_id=tc.candidate_id,
            artifact=tc.artifact,
            artifact_sha256=tc.artifact_sha256,
            dataset=tc.dataset,
            dataset_version=tc.version,
            study_id=tc.study_id,
            lineage_verified=row["lineage_verified"],
            status=row["status"],
        )
    )
    if row["status"] == "integrity_failed":
        actual_sha = row["lineage"].get("artifact_actual_sha256")
        await ctx.emit(
            ModelIntegrityFailed(
                model_name=row["model_name"],
                version=row["version"],
                artifact=tc.artifact,
                expected_sha256=tc.artifact_sha256,
                actual_sha256=actual_sha,
                detected_by="registry",
            )
        )
    if row["status"] in ("rejected", "integrity_failed"):
        await ctx.emit(_refused(row))
        return
    if not row["tracking"]:
        await deps.catalog.set_tracking(row["model_name"], row["version"], await deps.tracker.link(row))


def _refused(row: dict) -> ModelRejected:  # type: ignore[type-arg]
    return ModelRejected(
        model_name=row["model_name"],
        version=row["version"],
        environment="all",
        actor=decisions.REGISTRY_ACTOR,
        reason=row["status_reason"] or row["status"],
    )


async def review_candidate(event: Envelope, ctx: HandlerContext, deps: RegistryDeps) -> None:
    tc = event.payload_as(TrainingCompleted)
    row = await deps.catalog.by_candidate(tc.candidate_id)
    if row is None:
        raise RuntimeError(f"candidate {tc.candidate_id} is not registered yet")  # retried with the message
    if row["status"] in ("rejected", "integrity_failed"):
        return
    if row["status"] == "registered":
        report = await _review(deps, row, ctx)
        if report is None:
            return
        await _alert_broken_champions(deps, row, report)
        await deps.catalog.put_evaluation(row["model_name"], row["version"], report)
        await deps.catalog.set_status(row["model_name"], row["version"], "reviewed")
    row = await deps.catalog.version(row["model_name"], row["version"])
    evaluation = await deps.catalog.evaluation(row["model_name"], row["version"])  # type: ignore[index]
    assert row is not None and evaluation is not None
    # Emitted on every run (a retry after a crash re-sends the same deterministic event id): never lost.
    await ctx.emit(_evaluated(deps, row, evaluation["report"]))
    automatic = await decisions.open_reviews(deps, row, evaluation["report"])
    if "dev" in automatic and deps.settings.auto_promote_dev:
        try:
            await promotion.promote(
                deps,
                row["model_name"],
                row["version"],
                "dev",
                decisions.REGISTRY_ACTOR,
                "automatic approval: every dev gate passed",
            )
        except RegistryError as exc:  # e.g. a person promoted another version meanwhile: theirs stands
            log.warning("auto-promotion of %s v%s to dev refused: %s", row["model_name"], row["version"], exc)
    else:
        await decisions.ask_next(deps, row, None)


async def _review(deps: RegistryDeps, row: dict, ctx: HandlerContext) -> dict | None:  # type: ignore[type-arg]
    champions = {}
    for env in ENVIRONMENTS:
        alias = await deps.releases.alias(row["model_name"], env)
        if alias is not None and alias["version"] != row["version"]:
            champion = await deps.catalog.version(row["model_name"], alias["version"])
            if champion is not None:
                champions[env] = champion
    confidences = tuple(p.confidence for p in deps.settings.policy.values())
    settings = ReviewSettings(deps.settings.bootstrap_resamples, 0.95, confidences, deps.settings.slice_min_group)
    try:
        return await review(deps.evaluator, row, champions, settings)
    except IntegrityError as exc:
        with contextlib.suppress(RegistryError):
            await promotion.integrity_failed(deps, row, None, S3Location.parse(row["artifact_uri"]), exc.actual)
    except TestSetChanged as exc:
        await deps.catalog.set_status(row["model_name"], row["version"], "rejected", f"cannot review: {exc}")
    refused = await deps.catalog.version(row["model_name"], row["version"])
    await ctx.emit(_refused(refused or row))
    return None


async def _alert_broken_champions(deps: RegistryDeps, row: dict, report: dict) -> None:  # type: ignore[type-arg]
    for failure in report.get("champion_failures", []):
        champion = await deps.catalog.version(row["model_name"], failure["champion_version"])
        if champion is None:
            continue
        with contextlib.suppress(RegistryError):  # records, alerts and raises IntegrityFailure (nothing to refuse)
            location = S3Location.parse(champion["artifact_uri"])
            await promotion.integrity_failed(deps, champion, None, location, failure["actual_sha256"])


def _evaluated(deps: RegistryDeps, row: dict, report: dict) -> ModelEvaluated:  # type: ignore[type-arg]
    own = report["metrics"]
    comparisons = [
        {
            "environments": c["environments"],
            "champion_version": c["champion_version"],
            "testsets": [
                {
                    "testset": t["testset"],
                    "macro_f1_difference": t["bootstrap"]["macro_f1"]["difference"],
                    "interval": [t["bootstrap"]["macro_f1"]["low"], t["bootstrap"]["macro_f1"]["high"]],
                    "mcnemar_p": t["mcnemar"]["p_value"],
                }
                for t in c["testsets"]
            ],
        }
        for c in report["comparisons"]
    ]
    return ModelEvaluated(
        model_name=row["model_name"],
        version=row["version"],
        metrics={
            "accuracy": own["accuracy"],
            "macro_f1": own["macro_f1"],
            "mcc": own["mcc"],
            "testset": report["testset"],
        },
        comparisons=comparisons,
        slice_gaps={name: s["gap"] for name, s in report["slices"].items() if s.get("gap") is not None},
        report_url=deps.version_url(row["model_name"], row["version"]),
    )


def handler_table(deps: RegistryDeps) -> HandlerTable:
    return {
        DatasetPrepared.event_type: [functools.partial(record_dataset, deps=deps)],
        TrainingCompleted.event_type: [
            functools.partial(register_candidate, deps=deps),
            functools.partial(review_candidate, deps=deps),
        ],
    }
