"""From a domain event to an `Alert`: the structured part of a notification (facts, links, identity).

Words live in the templates (`templates/*.j2`); this module decides which facts a person sees (model, version,
environment, data set, metrics) and which buttons they get (registry dashboard, drift report, approval page). Facts
marked `key` make an alert's identity: two alerts of the same type and severity with the same key facts are
"identical" and may be collapsed into one message (volatile figures such as trial counts are not key facts).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from shared.events import Envelope, EventPayload, Severity

PREFERRED_METRICS = ("accuracy", "macro_f1", "mcc", "f1", "precision", "recall")
TEST_EVENT_TYPE = "notifier.test"


@dataclass(frozen=True)
class Fact:
    label: str
    value: str
    key: bool = True


@dataclass(frozen=True)
class Link:
    title: str
    url: str


@dataclass(frozen=True)
class Alert:
    """Everything the renderers need, independent of the channel."""

    event_id: str
    event_type: str
    severity: Severity
    occurred_at: datetime
    correlation_id: str
    source: str
    payload: Any  # the typed payload (templates read its attributes); a dict for the wiring check
    facts: tuple[Fact, ...]
    links: tuple[Link, ...]
    collapsible: bool = True
    repeated: int = 0  # a summary: how many more identical alerts arrived in the window
    window_started: datetime | None = None
    envelope: Envelope | None = None  # kept so a collapse window can re-render its alert later

    @property
    def collapse_key(self) -> str:
        identity = [self.event_type, self.severity, *[f"{f.label}={f.value}" for f in self.facts if f.key]]
        return hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:32]

    def summary_of(self, repeated: int, window_started: datetime, summary_id: str) -> Alert:
        """The message that closes a collapse window: this alert again, with the count of what was held back."""
        return replace(self, event_id=summary_id, repeated=repeated, window_started=window_started, collapsible=False)


def metrics_text(metrics: dict[str, Any], limit: int = 4) -> str:
    """`accuracy 0.912 · macro_f1 0.890`: the headline figures of a metrics dict, preferred names first."""
    scalars = {k: v for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool) and k != "n"}
    order = [k for k in PREFERRED_METRICS if k in scalars] + sorted(k for k in scalars if k not in PREFERRED_METRICS)
    return " · ".join(f"{k} {_number(scalars[k])}" for k in order[:limit])


def _number(value: float) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _model(p: Any) -> list[Fact]:
    return [Fact("Model", str(p.model_name)), Fact("Version", f"v{p.version}")]


def _env(p: Any) -> list[Fact]:
    return [Fact("Environment", str(p.environment))] if getattr(p, "environment", None) else []


FactBuilder = Callable[[Any], list[Fact]]
FACTS: dict[str, FactBuilder] = {
    "dataset.rejected": lambda p: [
        Fact("Data set", p.dataset),
        Fact("Source", p.source.uri),
        Fact("Reason", p.reason),
        *([Fact("Quarantine", p.quarantine.uri, key=False)] if p.quarantine else []),
    ],
    "training.completed": lambda p: [
        Fact("Model", p.model_name),
        Fact("Data set", f"{p.dataset} @ {p.version}"),
        Fact("Study", p.study_id),
        Fact("Best", f"{p.objective} {_number(p.best_value)}", key=False),
        Fact("Test metrics", metrics_text(p.test_metrics), key=False),
        Fact("Trials", f"{p.trials_completed} completed, {p.trials_pruned} pruned, {p.trials_failed} failed", False),
    ],
    "training.failed": lambda p: [
        Fact("Data set", f"{p.dataset} @ {p.version}" if p.version else p.dataset),
        *([Fact("Study", p.study_id)] if p.study_id else []),
        Fact("Reason", p.reason),
    ],
    "model.approval_requested": lambda p: [
        *_model(p),
        *_env(p),
        *([Fact("Failed gates", ", ".join(p.failed_gates))] if p.failed_gates else []),
    ],
    "model.approved": lambda p: [*_model(p), *_env(p), Fact("By", p.actor), Fact("Reason", p.reason, key=False)],
    "model.rejected": lambda p: [*_model(p), *_env(p), Fact("By", p.actor), Fact("Reason", p.reason)],
    "model.promoted": lambda p: [
        *_model(p),
        *_env(p),
        Fact("Previous version", f"v{p.previous_version}" if p.previous_version else "none"),
        Fact("By", p.actor),
    ],
    "model.rolled_back": lambda p: [
        Fact("Model", p.model_name),
        *_env(p),
        Fact("Version", f"v{p.from_version} → v{p.to_version}"),
        Fact("By", p.actor),
        Fact("Reason", p.reason),
    ],
    "model.integrity_failed": lambda p: [
        *_model(p),
        *_env(p),
        Fact("Artifact", p.artifact.uri),
        Fact("Expected sha256", p.expected_sha256[:16] + "…"),
        Fact("Actual sha256", (p.actual_sha256 or "missing")[:16] + ("…" if p.actual_sha256 else "")),
        Fact("Detected by", p.detected_by),
    ],
    "drift.detected": lambda p: [
        *([Fact("Model", p.model_name)] if p.model_name else []),
        *([Fact("Version", f"v{p.version}")] if p.version is not None else []),
        *_env(p),
        Fact("Drifted checks", ", ".join(p.drifted_checks)),
        Fact("Consecutive runs", str(p.consecutive_runs), key=False),
        Fact("Action", p.action),
    ],
    "pipeline.failed": lambda p: [
        Fact("Queue", p.queue),
        Fact("Reason", p.reason),
        Fact("Dead letters", str(p.dead_letters), key=False),
        *([Fact("Oldest", f"{p.oldest_age_seconds:.0f} s", key=False)] if p.oldest_age_seconds is not None else []),
    ],
}
_GENERIC_FIELDS = (
    ("model_name", "Model"),
    ("version", "Version"),
    ("environment", "Environment"),
    ("dataset", "Data set"),
    ("reason", "Reason"),
)


def generic_facts(p: EventPayload) -> list[Fact]:
    """Facts of a type without its own builder: the well-known fields it happens to have, and its metrics."""
    facts = [Fact(label, str(getattr(p, name))) for name, label in _GENERIC_FIELDS if getattr(p, name, None)]
    metrics = getattr(p, "metrics", None)
    if isinstance(metrics, dict) and (text := metrics_text(metrics)):
        facts.append(Fact("Metrics", text, key=False))
    return facts


def links(p: EventPayload, dashboard_url: str) -> tuple[Link, ...]:
    """Buttons: the approval page and the report when the event has them, and always the registry dashboard."""
    out = []
    if url := _http(getattr(p, "approval_url", None)):
        out.append(Link("Review and approve", url))
    if url := _http(getattr(p, "report_url", None)):
        out.append(Link("Open the drift report" if p.event_type.startswith("drift.") else "Open the report", url))
    out.append(Link("Open the registry dashboard", dashboard_url))
    return tuple(out)


def _http(url: Any) -> str | None:
    # Only what a browser can open becomes a button (an s3:// URI stays a fact of the payload).
    return url if isinstance(url, str) and url.startswith(("http://", "https://")) else None


def from_envelope(envelope: Envelope, dashboard_url: str) -> Alert:
    """The alert for one domain event."""
    payload = envelope.payload
    builder = FACTS.get(envelope.type, generic_facts)
    return Alert(
        event_id=envelope.id,
        event_type=envelope.type,
        severity=envelope.severity,
        occurred_at=envelope.occurred_at,
        correlation_id=envelope.correlation_id,
        source=envelope.source,
        payload=payload,
        facts=tuple(builder(payload)),
        links=links(payload, dashboard_url),
        envelope=envelope,
    )


def wiring_check_alert(event_id: str, channel: str, requested_by: str, dashboard_url: str) -> Alert:
    """What `POST /v1/test` sends: proof that the wiring works, never collapsed."""
    return Alert(
        event_id=event_id,
        event_type=TEST_EVENT_TYPE,
        severity="info",
        occurred_at=datetime.now(UTC),
        correlation_id=event_id,
        source="notifier",
        payload={"channel": channel, "requested_by": requested_by},
        facts=(Fact("Channel", channel), Fact("Requested by", requested_by)),
        links=(Link("Open the registry dashboard", dashboard_url),),
        collapsible=False,
    )
