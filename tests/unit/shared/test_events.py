from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from shared.events import CATALOG, DatasetRejected, DriftDetected, Envelope, S3Location
from shared.schemas import SCHEMA_DIR, event_schemas, render


def test_envelope_round_trip_gives_typed_payload() -> None:
    payload = DatasetRejected(dataset="tickets", source=S3Location(bucket="b", key="raw/x.csv"), reason="one class")
    wire = Envelope.wrap(payload, source="prep", correlation_id="c-1").model_dump_json()
    back = Envelope.model_validate_json(wire)
    assert isinstance(back.payload, DatasetRejected)
    assert back.payload_as(DatasetRejected).reason == "one class"
    assert (back.type, back.severity, back.correlation_id) == ("dataset.rejected", "warning", "c-1")


def test_payload_severity_can_depend_on_content() -> None:
    payload = DriftDetected(run_id="r", environment="prod", level="high", drifted_checks=["text"])
    assert Envelope.wrap(payload, source="monitor", correlation_id="c").severity == "high"


def test_unknown_event_type_is_refused() -> None:
    with pytest.raises(ValidationError, match="unknown event type"):
        Envelope.model_validate({"type": "nope.happened", "source": "x", "correlation_id": "c", "payload": {}})


def test_payload_of_wrong_kind_is_refused() -> None:
    envelope = Envelope.wrap(
        DriftDetected(run_id="r", environment="dev", drifted_checks=[]), source="m", correlation_id="c"
    )
    with pytest.raises(TypeError):
        envelope.payload_as(DatasetRejected)


def test_every_event_type_is_past_tense_and_namespaced() -> None:
    for event_type in CATALOG:
        area, _, fact = event_type.partition(".")
        assert area and fact, event_type


def test_exported_schemas_are_up_to_date() -> None:
    # Fails when a payload model changed and `make schemas` was not run: the contract in the repo would lie.
    for name, schema in event_schemas().items():
        path = SCHEMA_DIR / f"{name}.json"
        assert path.exists(), f"missing schema {path}; run make schemas"
        assert path.read_text() == render(schema), f"{path} is stale; run make schemas"
    assert json.loads((SCHEMA_DIR / "envelope.json").read_text())["title"] == "Envelope"
