"""Demo, data stage: generate the support-ticket data set, upload it through ingest, and watch prep prepare it.

Leaves in `ctx.state`: `dataset`, `dataset_version`, `correlation_id` (and `upload_id`, `raw_uri`) for later stages.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table

from shared.demo.context import DemoContext
from shared.demo.data import support_tickets_csv

DATASET = "support-tickets"
MAPPING = {"format": "csv", "text_column": "text", "label_column": "label", "slice_columns": "channel,region"}


def _upload(ctx: DemoContext, data: bytes) -> dict[str, Any]:
    answer = ctx.http.post(
        ctx.url("ingest", f"/v1/datasets/{DATASET}/files"),
        data=MAPPING,
        files={"file": ("support_tickets.csv", data, "text/csv")},
    )
    if answer.status_code != 202:
        raise RuntimeError(f"ingest refused the upload: HTTP {answer.status_code} {answer.text}")
    receipt: dict[str, Any] = answer.json()
    return receipt


def _outcome(ctx: DemoContext, upload_id: str) -> dict[str, Any] | None:
    """The upload's record once prep has prepared or rejected it; None while it is on its way."""
    answer = ctx.http.get(ctx.url("ingest", f"/v1/datasets/{DATASET}"))
    if answer.status_code != 200:
        return None
    view = answer.json()
    upload = next((u for u in view["uploads"] if u["upload_id"] == upload_id), None)
    if upload is None:
        return None
    decided = [s for s in upload["steps"] if s["type"] in ("dataset.prepared", "dataset.rejected")]
    if not decided:
        return None
    versions = [v for v in view["versions"] if v["version"] in upload["versions"]]
    return {"upload": upload, "step": decided[-1], "version": versions[-1] if versions else None}


def _show_receipt(ctx: DemoContext, receipt: dict[str, Any]) -> None:
    table = Table(show_header=False, box=None)
    table.add_row("[bold]upload id[/bold]", receipt["upload_id"])
    table.add_row("[bold]stored at[/bold]", receipt["uri"])
    table.add_row("[bold]size[/bold]", f"{receipt['size_bytes']:,} bytes")
    table.add_row("[bold]correlation id[/bold]", receipt["correlation_id"])
    mapping = {k: ",".join(v) if isinstance(v, list) else v for k, v in receipt["mapping"].items()}
    table.add_row("[bold]mapping[/bold]", "  ".join(f"{k}={v}" for k, v in mapping.items()))
    ctx.console.print(table)


def _show_version(ctx: DemoContext, version: dict[str, Any]) -> None:
    labels = version["labels"]
    table = Table("split", "rows", *labels, title=f"version {version['version']}")
    for name, split in version["splits"].items():
        per_label = split.get("per_label", {})
        table.add_row(name, str(split["total"]), *(str(per_label.get(label, 0)) for label in labels))
    ctx.console.print(table)
    dropped = ", ".join(f"{reason}: {n}" for reason, n in version["rows_dropped"].items() if n) or "none"
    ctx.say(f"{version['rows_in']} rows in, dropped {dropped}; manifest {version['manifest']}")


def run(ctx: DemoContext) -> None:
    ctx.step("Data: upload a support-ticket data set and watch it being prepared")
    data = support_tickets_csv()
    rows = data.count(b"\n") - 1
    ctx.say(f"Generated {rows} support tickets (billing / technical / shipping) with channel and region columns.")
    receipt = _upload(ctx, data)
    ctx.say("[green]Ingest accepted the upload[/green] (streamed to S3, `dataset.ingested` published):")
    _show_receipt(ctx, receipt)
    outcome = ctx.wait_for("prep to prepare the upload", lambda: _outcome(ctx, receipt["upload_id"]), timeout=180)
    step = outcome["step"]
    if step["type"] == "dataset.rejected":
        ctx.say(f"[red]Prep rejected the file:[/red] {step['detail'].get('reason')}")
        raise RuntimeError(f"the demo data set was rejected: {step['detail'].get('reason')}")
    version = outcome["version"]
    ctx.say(f"[green]Prep prepared it[/green] (`dataset.prepared` from {step['source']}):")
    _show_version(ctx, version)
    ctx.state.update(
        dataset=DATASET,
        dataset_version=version["version"],
        correlation_id=receipt["correlation_id"],
        upload_id=receipt["upload_id"],
        raw_uri=receipt["uri"],
    )
    ctx.say(f"Follow it any time: `mlops datasets {DATASET}` or {ctx.url('ingest', f'/v1/datasets/{DATASET}')}")
