"""One realistic event of every type the default routes take (and one they do not), for the notifier's tests."""

from __future__ import annotations

from shared.events import (
    DatasetRejected,
    DriftDetected,
    Envelope,
    EventPayload,
    ModelApprovalRequested,
    ModelApproved,
    ModelEvaluated,
    ModelIntegrityFailed,
    ModelPromoted,
    ModelRejected,
    ModelRolledBack,
    PipelineFailed,
    S3Location,
    TrainingCompleted,
    TrainingFailed,
)

ARTIFACT = S3Location(bucket="mlops-dev", key="models/tickets/3/model.pt")
METRICS = {"n": 180, "accuracy": 0.9167, "macro_f1": 0.9021, "mcc": 0.871, "labels": ["billing", "shipping"]}

PAYLOADS: dict[str, EventPayload] = {
    p.event_type: p
    for p in (
        DatasetRejected(
            dataset="tickets",
            source=S3Location(bucket="mlops-dev", key="raw/tickets.csv"),
            reason="no label column found",
            details=["header: text,channel,region", "expected one of: label, intent, category"],
            quarantine=S3Location(bucket="mlops-dev", key="quarantine/tickets.csv"),
        ),
        TrainingCompleted(
            study_id="study-42",
            model_name="tickets",
            candidate_id="cand-7",
            dataset="tickets",
            version="v3",
            dataset_digest="d" * 64,
            manifest=S3Location(bucket="mlops-dev", key="processed/tickets/v3/manifest.json"),
            artifact=ARTIFACT,
            artifact_sha256="a" * 64,
            model_card=S3Location(bucket="mlops-dev", key="models/tickets/3/model_card.json"),
            experiments_prefix="experiments/study-42/",
            objective="macro_f1",
            best_value=0.9021,
            params={"learning_rate": 0.1, "hidden_size": 128},
            dev_metrics=METRICS,
            test_metrics=METRICS,
            seed=7,
            code_version="abc123",
            trials_completed=8,
            trials_pruned=3,
        ),
        TrainingFailed(study_id="study-43", dataset="tickets", version="v3", reason="CUDA out of memory"),
        ModelApprovalRequested(
            model_name="tickets",
            version=3,
            environment="staging",
            failed_gates=["slice_gap"],
            approval_url="http://127.0.0.1:8004/ui/approvals/tickets/3",
        ),
        ModelApproved(model_name="tickets", version=3, environment="dev", actor="auto", reason="gates passed"),
        ModelRejected(model_name="tickets", version=3, environment="prod", actor="ana", reason="slice gap 0.2"),
        ModelPromoted(
            model_name="tickets",
            version=3,
            environment="dev",
            previous_version=2,
            artifact=ARTIFACT,
            artifact_sha256="a" * 64,
            actor="registry",
        ),
        ModelRolledBack(
            model_name="tickets",
            environment="prod",
            from_version=3,
            to_version=2,
            artifact=ARTIFACT,
            artifact_sha256="a" * 64,
            actor="ana",
            reason="complaints about billing tickets",
        ),
        ModelIntegrityFailed(
            model_name="tickets",
            version=3,
            environment="prod",
            artifact=ARTIFACT,
            expected_sha256="a" * 64,
            actual_sha256="b" * 64,
            detected_by="inference",
        ),
        DriftDetected(
            run_id="run-9",
            environment="prod",
            model_name="tickets",
            version=3,
            level="high",
            drifted_checks=["text_length", "prediction"],
            consecutive_runs=2,
            report_url="http://127.0.0.1:8005/v1/runs/run-9/report",
        ),
        PipelineFailed(
            queue="mlops-prep",
            reason="handler failed 5 times: KeyError 'label'",
            dead_letters=3,
            oldest_age_seconds=120.0,
            sample_message='{"Records": []}',
        ),
    )
}
UNROUTED = ModelEvaluated(model_name="tickets", version=3, metrics=METRICS, report_url="http://127.0.0.1:8004/r/3")


def envelope(payload: EventPayload, correlation_id: str = "corr-1", event_id: str | None = None) -> Envelope:
    return Envelope.wrap(payload, source="test", correlation_id=correlation_id, event_id=event_id)
