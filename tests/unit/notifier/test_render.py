"""Every template renders a readable title, summary, card and multipart email from a real payload."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from jinja2 import DictLoader

from services.notifier import alerts
from services.notifier.render import CARD_VERSION, Renderer, email_message, environment
from shared.events import DatasetRejected, S3Location
from tests.unit.notifier.samples import PAYLOADS, UNROUTED, envelope

DASHBOARD = "http://127.0.0.1:8004/ui"
# What each title must name, so a person knows at a glance what happened to what.
TITLE_WORDS = {
    "dataset.rejected": ["tickets", "rejected"],
    "training.completed": ["Training completed", "tickets"],
    "training.failed": ["Training failed", "tickets"],
    "model.approval_requested": ["Approval needed", "v3", "staging"],
    "model.approved": ["Approved", "v3"],
    "model.rejected": ["Rejected", "v3", "prod"],
    "model.promoted": ["Promoted", "v3", "dev"],
    "model.rolled_back": ["Rolled back", "prod", "v2"],
    "model.integrity_failed": ["Integrity", "v3"],
    "drift.detected": ["Drift", "prod", "tickets"],
    "pipeline.failed": ["mlops-prep"],
}


def _alert(event_type: str) -> alerts.Alert:
    return alerts.from_envelope(envelope(PAYLOADS[event_type]), DASHBOARD)


@pytest.mark.parametrize("event_type", sorted(PAYLOADS))
def test_every_template_renders_title_summary_card_and_email(event_type: str) -> None:
    renderer, alert = Renderer(), _alert(event_type)
    blocks = renderer.blocks(alert)
    assert renderer.template_for(event_type).name == f"{event_type}.j2"
    for word in TITLE_WORDS[event_type]:
        assert word in blocks.title
    assert len(blocks.summary) > 40 and "{{" not in blocks.summary
    card = renderer.card(alert)["attachments"][0]["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == CARD_VERSION
    assert {f["title"] for f in next(b for b in card["body"] if b["type"] == "FactSet")["facts"]}
    mail = renderer.email(alert)
    assert mail.subject.startswith(f"[{alert.severity.upper()}] ") and blocks.summary in mail.text
    assert "<html" in mail.html and blocks.title in mail.html


def test_workflows_payload_shape_with_severity_facts_and_buttons() -> None:
    body = Renderer().card(_alert("model.approval_requested"))
    assert body["type"] == "message"
    (attachment,) = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    header = card["body"][0]
    assert header["style"] == "warning" and header["items"][0]["text"] == "WARNING · model.approval_requested"
    facts = {f["title"]: f["value"] for b in card["body"] if b["type"] == "FactSet" for f in b["facts"]}
    assert facts == {"Model": "tickets", "Version": "v3", "Environment": "staging", "Failed gates": "slice_gap"}
    assert card["actions"] == [
        {
            "type": "Action.OpenUrl",
            "title": "Review and approve",
            "url": "http://127.0.0.1:8004/ui/approvals/tickets/3",
        },
        {"type": "Action.OpenUrl", "title": "Open the registry dashboard", "url": DASHBOARD},
    ]


def test_training_completed_shows_the_best_metrics() -> None:
    alert = _alert("training.completed")
    facts = {f.label: f.value for f in alert.facts}
    assert facts["Best"] == "macro_f1 0.9021"
    assert facts["Test metrics"] == "accuracy 0.9167 · macro_f1 0.9021 · mcc 0.871"
    assert "macro_f1 = 0.9021" in Renderer().blocks(alert).summary


def test_drift_has_the_report_button_and_pipeline_failure_the_dead_letter_reason() -> None:
    drift = Renderer().card(_alert("drift.detected"))["attachments"][0]["content"]
    assert drift["actions"][0] == {
        "type": "Action.OpenUrl",
        "title": "Open the drift report",
        "url": "http://127.0.0.1:8005/v1/runs/run-9/report",
    }
    assert "KeyError 'label'" in Renderer().blocks(_alert("pipeline.failed")).summary


def test_a_type_without_template_gets_the_generic_one() -> None:
    renderer = Renderer()
    alert = alerts.from_envelope(envelope(UNROUTED), DASHBOARD)
    assert renderer.template_for("model.evaluated").name == "_generic.j2"
    assert renderer.blocks(alert).title == "model.evaluated from test"
    assert {f.label for f in alert.facts} >= {"Model", "Version", "Metrics"}
    assert [link.title for link in alert.links] == ["Open the report", "Open the registry dashboard"]


def test_a_failing_template_falls_back_instead_of_losing_the_alert() -> None:
    env = environment()
    broken = {"dataset.rejected.j2": "{% block title %}{{ p.no_such_field }}{% endblock %}"}
    env.loader = DictLoader({**broken, "_generic.j2": env.loader.get_source(env, "_generic.j2")[0]})  # type: ignore[union-attr]
    blocks = Renderer(env).blocks(_alert("dataset.rejected"))
    assert blocks.title == "dataset.rejected from test"
    assert "no label column found" in blocks.summary


def test_html_email_escapes_what_the_payload_says() -> None:
    payload = DatasetRejected(
        dataset="t", source=S3Location(bucket="b", key="raw/x"), reason="<script>alert(1)</script>"
    )
    mail = Renderer().email(alerts.from_envelope(envelope(payload), DASHBOARD))
    assert "<script>" not in mail.html and "&lt;script&gt;" in mail.html
    assert "<script>alert(1)</script>" in mail.text  # plain text stays as written


def test_email_is_multipart_text_and_html_with_a_stable_message_id() -> None:
    alert = _alert("training.failed")
    message = email_message(Renderer().email(alert), alert, "MLOps <n@example.com>", ["a@example.com"], "email")
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["Message-ID"] == f"<{alert.event_id}.email@mlops.notifier>"
    assert message["X-MLOps-Severity"] == "high"


def test_a_summary_says_how_many_identical_alerts_it_stands_for() -> None:
    alert = _alert("drift.detected").summary_of(4, datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "x:summary:1")
    renderer = Renderer()
    assert renderer.blocks(alert).title.endswith("(+4 more)")
    card_text = str(renderer.card(alert))
    assert "4 more identical alerts since 2026-01-02 03:04:05 UTC" in card_text
    assert "4 more identical alerts since 2026-01-02 03:04:05 UTC" in renderer.email(alert).text


def test_collapse_key_ignores_volatile_facts_but_not_key_facts() -> None:
    first = _alert("pipeline.failed")
    more = alerts.from_envelope(
        envelope(PAYLOADS["pipeline.failed"].model_copy(update={"dead_letters": 9, "oldest_age_seconds": 999.0})),
        DASHBOARD,
    )
    other_queue = alerts.from_envelope(
        envelope(PAYLOADS["pipeline.failed"].model_copy(update={"queue": "mlops-trainer"})), DASHBOARD
    )
    assert first.collapse_key == more.collapse_key
    assert first.collapse_key != other_queue.collapse_key
