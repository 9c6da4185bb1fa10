"""Alert routing: which domain events reach people, how severe they must be, on which channels, for whom.

One model, read by two parties that must never disagree: the topology derives the notifier queue's SNS filter policy
from it (so an event no route names never even reaches the notifier), and the notifier decides from it what to send
where. The routes come from the environment (`NOTIFIER_ROUTES` as JSON, or `NOTIFIER_ROUTES_FILE`), validated when
read; without either, `DEFAULT_ROUTES` apply.

`NOTIFIER_ROUTES` example (a list of routes, or `{"routes": [...]}`):
    [{"name": "ops", "event_types": ["pipeline.failed", "model.rolled_back"], "min_severity": "high",
      "channels": ["teams", "email"], "email_to": ["oncall@example.com"]}]
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.events import CATALOG, SEVERITIES, Severity

Channel = Literal["teams", "email"]
CHANNELS: tuple[Channel, ...] = ("teams", "email")
# The notifier's own events are never routed back to it: a failing channel would otherwise alert about itself forever.
UNROUTABLE_PREFIX = "notification."
EMAIL_ADDRESS = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+$")


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity)  # type: ignore[arg-type]


class Route(BaseModel):
    """Events of these types, at least this severe, go to these channels (and, for email, these recipients)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    event_types: tuple[str, ...] = Field(min_length=1)
    min_severity: Severity = "info"
    channels: tuple[Channel, ...] = Field(CHANNELS, min_length=1)
    email_to: tuple[str, ...] = Field((), description="Recipients; empty: the notifier's default recipients.")

    @field_validator("event_types")
    @classmethod
    def _known_types(cls, types: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(t for t in types if t not in CATALOG)
        if unknown:
            raise ValueError(f"unknown event types {unknown}; known: {sorted(CATALOG)}")
        looping = sorted(t for t in types if t.startswith(UNROUTABLE_PREFIX))
        if looping:
            raise ValueError(f"{looping} cannot be routed: the notifier would notify about its own notifications")
        return tuple(dict.fromkeys(types))

    @field_validator("channels")
    @classmethod
    def _unique_channels(cls, channels: tuple[Channel, ...]) -> tuple[Channel, ...]:
        return tuple(dict.fromkeys(channels))

    @field_validator("email_to")
    @classmethod
    def _addresses(cls, addresses: tuple[str, ...]) -> tuple[str, ...]:
        bad = [a for a in addresses if not EMAIL_ADDRESS.match(a)]
        if bad:
            raise ValueError(f"not email addresses: {bad}")
        return addresses

    def matches(self, event_type: str, severity: str) -> bool:
        return event_type in self.event_types and severity_rank(severity) >= severity_rank(self.min_severity)


class Routing(BaseModel):
    """The whole routing configuration: an ordered set of routes; an event goes wherever any route sends it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    routes: tuple[Route, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> Routing:
        names = [r.name for r in self.routes]
        if len(set(names)) != len(names):
            raise ValueError(f"route names must be unique: {names}")
        return self

    def event_types(self) -> tuple[str, ...]:
        return tuple(sorted({t for r in self.routes for t in r.event_types}))

    def matching(self, event_type: str, severity: str) -> list[Route]:
        return [r for r in self.routes if r.matches(event_type, severity)]

    def channels(self) -> tuple[Channel, ...]:
        used = {c for r in self.routes for c in r.channels}
        return tuple(c for c in CHANNELS if c in used)

    def severity_floor(self, event_type: str) -> Severity:
        """The lowest severity at which any route takes this type."""
        floors = [r.min_severity for r in self.routes if event_type in r.event_types]
        return min(floors, key=severity_rank)

    def filter_policy(self) -> dict[str, Any]:
        """The SNS subscription filter policy that lets through exactly what some route takes.

        Types are grouped by their severity floor; each group is one branch (`event_type` AND `severity`), joined by
        `$or` when there is more than one. A group taking every severity has no `severity` key, so events published
        without that attribute still match. Branch sizes stay far below AWS's 150-combination limit: the catalog
        has about twenty types and there are four severities.
        """
        groups: dict[Severity, list[str]] = {}
        for event_type in self.event_types():
            groups.setdefault(self.severity_floor(event_type), []).append(event_type)
        branches: list[dict[str, Any]] = []
        for floor in sorted(groups, key=severity_rank):
            branch: dict[str, Any] = {"event_type": sorted(groups[floor])}
            if floor != SEVERITIES[0]:
                branch["severity"] = [s for s in SEVERITIES if severity_rank(s) >= severity_rank(floor)]
            branches.append(branch)
        return branches[0] if len(branches) == 1 else {"$or": branches}


DEFAULT_ROUTES = Routing(
    routes=(
        # Everything a person should hear about goes to the team's Teams channel.
        Route(
            name="all-alerts",
            event_types=(
                "dataset.rejected",
                "training.completed",
                "training.failed",
                "model.approval_requested",
                "model.approved",
                "model.rejected",
                "model.promoted",
                "model.rolled_back",
                "model.integrity_failed",
                "drift.detected",
                "pipeline.failed",
            ),
            channels=("teams",),
        ),
        # What needs someone to act (an approval, a failure, drift, a rollback) also goes by email.
        Route(
            name="needs-action",
            event_types=(
                "dataset.rejected",
                "training.failed",
                "model.approval_requested",
                "model.rolled_back",
                "model.integrity_failed",
                "drift.detected",
                "pipeline.failed",
            ),
            min_severity="warning",
            channels=("email",),
        ),
    )
)


class RoutingSettings(BaseSettings):
    """Where routes come from (`NOTIFIER_ROUTES` JSON or `NOTIFIER_ROUTES_FILE`); the notifier settings extend it."""

    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", extra="ignore", frozen=True)

    routes: Routing | None = Field(None, description="Routes as JSON: a list, or {'routes': [...]}.")
    routes_file: Path | None = Field(None, description="A JSON file with the routes (instead of NOTIFIER_ROUTES).")

    @field_validator("routes", mode="before")
    @classmethod
    def _bare_list(cls, value: Any) -> Any:
        if isinstance(value, str):  # JSON passed as a plain value (the environment's is decoded already)
            value = json.loads(value)
        return {"routes": value} if isinstance(value, list) else value

    @model_validator(mode="after")
    def _one_source(self) -> RoutingSettings:
        if self.routes is not None and self.routes_file is not None:
            raise ValueError("set NOTIFIER_ROUTES or NOTIFIER_ROUTES_FILE, not both")
        if self.routes_file is not None and not self.routes_file.is_file():
            raise ValueError(f"NOTIFIER_ROUTES_FILE {self.routes_file} does not exist")
        return self

    def routing(self) -> Routing:
        """The validated routing configuration in force."""
        if self.routes_file is not None:
            return parse_routing(self.routes_file.read_text(encoding="utf-8"))
        return self.routes if self.routes is not None else DEFAULT_ROUTES


def parse_routing(text: str) -> Routing:
    """Routes from JSON text: a list of routes or `{"routes": [...]}`."""
    data = json.loads(text)
    return Routing.model_validate({"routes": data} if isinstance(data, list) else data)


def notifier_filter_policy() -> dict[str, Any]:
    """The notifier queue's filter policy, from the routing configuration of this environment."""
    return RoutingSettings().routing().filter_policy()
