"""Export the JSON schema of the envelope and of every event payload into `shared/schemas/` (`make schemas`).

The exported files are committed: other teams (and non-Python consumers) read the contract without running code,
and a unit test fails when a model changes without its schema being re-exported.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared.events import CATALOG, Envelope

SCHEMA_DIR = Path(__file__).parent / "schemas"


def event_schemas() -> dict[str, dict[str, Any]]:
    schemas = {"envelope": Envelope.model_json_schema()}
    for event_type, model in sorted(CATALOG.items()):
        schema = model.model_json_schema()
        schema["title"] = event_type
        schema["x-schema-version"] = model.schema_version
        schema["x-default-severity"] = model.default_severity
        schemas[event_type] = schema
    return schemas


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def export(target: Path = SCHEMA_DIR) -> list[Path]:
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in event_schemas().items():
        path = target / f"{name}.json"
        path.write_text(render(schema))
        written.append(path)
    return written


if __name__ == "__main__":
    for path in export():
        print(path)  # noqa: T201
