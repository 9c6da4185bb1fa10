"""compose.yaml: valid against the Compose specification's JSON schema, and consistent with the service table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from ecs.services import ORDER, SERVICES

ROOT = Path(__file__).resolve().parents[3]
SCHEMA = ROOT / "tests/fixtures/schemas/compose-spec.json"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_valid_against_the_compose_spec(compose: dict[str, Any]) -> None:
    jsonschema.validate(compose, json.loads(SCHEMA.read_text()))


def test_the_schema_rejects_a_broken_file(compose: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(compose))
    broken["services"]["prep"]["depends_on"]["localstack"]["condition"] = "service_ready"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, json.loads(SCHEMA.read_text()))


def test_localstack_is_pinned_and_health_gated_on_its_init_hooks(compose: dict[str, Any]) -> None:
    ls = compose["services"]["localstack"]
    assert "FROM localstack/localstack:2026.03.0" in (ROOT / ls["build"]["dockerfile"]).read_text()
    probe = " ".join(ls["healthcheck"]["test"])
    assert "/_localstack/init/ready" in probe and "ERROR" in probe
    hook = ROOT / "localstack/init/ready.d/10-provision.sh"
    assert hook.stat().st_mode & 0o111, "LocalStack runs only executable .sh hooks"
    assert "-m shared.provision" in hook.read_text()


@pytest.mark.parametrize("name", ORDER)
def test_every_service_runs_from_its_image_after_its_dependencies(compose: dict[str, Any], name: str) -> None:
    svc, spec = compose["services"][name], SERVICES[name]
    assert svc["build"] == {"context": ".", "dockerfile": spec.dockerfile}
    assert f"127.0.0.1:{spec.port}:{spec.port}" in svc["ports"]
    assert svc["environment"]["AWS_ENDPOINT_URL"] == "http://localstack:4566"
    for other in ORDER:
        assert svc["environment"][f"MLOPS_{other.upper()}_URL"] == f"http://{other}:{SERVICES[other].port}"
    wanted = {"localstack": {"condition": "service_healthy"}}
    wanted |= {n: {"condition": "service_healthy"} for n in spec.needs}
    assert svc["depends_on"] == wanted
    assert "healthcheck" not in svc, "the image's HEALTHCHECK (generated, on /healthz) is the one compose waits for"


def test_monitor_schedules_drift_checks_itself(compose: dict[str, Any]) -> None:
    assert compose["services"]["monitor"]["environment"]["MONITOR_EMBEDDED_SCHEDULER"] == "true"


def test_notifier_talks_to_the_local_receivers_over_loopback(compose: dict[str, Any]) -> None:
    receivers, notifier = compose["services"]["devreceivers"], compose["services"]["notifier"]
    assert receivers["network_mode"] == "service:notifier"
    assert receivers["command"] == ["python", "-m", "services.notifier.devreceivers"]
    assert "devreceivers" in receivers["build"]["args"]["EXTRAS"]
    assert "127.0.0.1:8026" in notifier["environment"]["NOTIFIER_TEAMS_WEBHOOK_URL"]
    assert {"127.0.0.1:8025:8025", "127.0.0.1:8026:8026"} <= set(notifier["ports"])
