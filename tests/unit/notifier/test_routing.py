"""Routing: validation of the configuration, which events go where, and the SNS filter policy derived from it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.alerting import DEFAULT_ROUTES, Route, Routing, RoutingSettings, parse_routing
from shared.settings import CommonSettings
from shared.topology import Topology
from tests.unit.notifier.conftest import FakeSender, NotifierFactory

OPS = Route(name="ops", event_types=("pipeline.failed", "model.rolled_back"), min_severity="high")
ML = Route(name="ml", event_types=("training.completed", "model.rolled_back"), channels=("teams",))


def test_route_matches_type_and_minimum_severity() -> None:
    assert OPS.matches("pipeline.failed", "high") and OPS.matches("pipeline.failed", "critical")
    assert not OPS.matches("pipeline.failed", "warning")
    assert not OPS.matches("training.completed", "critical")


@pytest.mark.parametrize(
    ("route", "message"),
    [
        ({"name": "x", "event_types": ["model.deleted"]}, "unknown event types"),
        ({"name": "x", "event_types": ["notification.failed"]}, "notify about its own notifications"),
        ({"name": "x", "event_types": ["drift.detected"], "min_severity": "fatal"}, "min_severity"),
        ({"name": "x", "event_types": ["drift.detected"], "channels": ["slack"]}, "channels"),
        ({"name": "x", "event_types": ["drift.detected"], "email_to": ["not-an-address"]}, "not email addresses"),
        ({"name": "x", "event_types": []}, "event_types"),
        ({"name": "x", "event_types": ["drift.detected"], "to": ["typo"]}, "to"),
    ],
)
def test_invalid_routes_are_refused_with_the_reason(route: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Routing.model_validate({"routes": [route]})


def test_route_names_are_unique() -> None:
    with pytest.raises(ValidationError, match="unique"):
        Routing(routes=(OPS, OPS))


def test_filter_policy_of_one_severity_floor_is_a_plain_type_list() -> None:
    policy = Routing(routes=(ML,)).filter_policy()
    assert policy == {"event_type": ["model.rolled_back", "training.completed"]}


def test_filter_policy_groups_types_by_their_lowest_severity() -> None:
    # model.rolled_back is in both routes: its floor is the lower one (info), so it joins the unfiltered group.
    policy = Routing(routes=(OPS, ML)).filter_policy()
    assert policy == {
        "$or": [
            {"event_type": ["model.rolled_back", "training.completed"]},
            {"event_type": ["pipeline.failed"], "severity": ["high", "critical"]},
        ]
    }


def test_default_routes_take_every_alert_type_and_no_notification_event() -> None:
    types = DEFAULT_ROUTES.event_types()
    assert "model.approval_requested" in types and "drift.detected" in types
    assert not [t for t in types if t.startswith("notification.")]


def test_routes_come_from_the_environment_as_a_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFIER_ROUTES", json.dumps([OPS.model_dump(mode="json")]))
    assert RoutingSettings().routing() == Routing(routes=(OPS,))


def test_routes_come_from_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "routes.json"
    path.write_text(json.dumps({"routes": [ML.model_dump(mode="json")]}))
    monkeypatch.setenv("NOTIFIER_ROUTES_FILE", str(path))
    assert RoutingSettings().routing() == parse_routing(path.read_text())


def test_bad_routes_in_the_environment_stop_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFIER_ROUTES", '[{"name": "x", "event_types": ["no.such"]}]')
    with pytest.raises(ValidationError, match="unknown event types"):
        RoutingSettings()


def test_the_topology_takes_the_notifier_filter_from_the_routes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFIER_ROUTES", json.dumps([OPS.model_dump(mode="json")]))
    policy = Topology(CommonSettings()).spec("notifier").filter_policy()
    assert policy == Routing(routes=(OPS,)).filter_policy()


async def test_plan_unions_channels_and_recipients_of_every_matching_route(make_notifier: NotifierFactory) -> None:
    routes = [
        {"name": "a", "event_types": ["model.rolled_back"], "channels": ["email"], "email_to": ["ops@example.com"]},
        {
            "name": "b",
            "event_types": ["model.rolled_back"],
            "min_severity": "critical",
            "email_to": ["cto@example.com"],
        },
        {"name": "c", "event_types": ["model.rolled_back"], "channels": ["teams", "email"]},
    ]
    notifier = await make_notifier({"teams": FakeSender("teams")}, routes=json.dumps(routes))
    assert notifier.plan("model.rolled_back", "high") == {
        "email": ("ops@example.com", "team@example.com"),  # route c names none: the default recipients
        "teams": (),
    }
    assert notifier.plan("model.rolled_back", "critical")["email"] == (
        "ops@example.com",
        "cto@example.com",
        "team@example.com",
    )
    assert notifier.plan("training.completed", "info") == {}
