"""`mlops upload`, `mlops import`, `mlops datasets`: data files into the platform, and where each one is now."""

from __future__ import annotations

import json
import mimetypes
from datetime import datetime
from pathlib import Path
from typing import IO, Annotated, Any

import httpx
import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn
from rich.table import Table

from shared.cli.client import answer, api, call, console
from shared.settings import ServiceUrls

FormatOpt = Annotated[str | None, typer.Option("--format", help="csv, tsv, jsonl or fasttext (default: detected)")]
TextOpt = Annotated[str | None, typer.Option("--text-column", help="Text column: name, or 0-based index")]
LabelOpt = Annotated[str | None, typer.Option("--label-column", help="Label column: name, or 0-based index")]
SliceOpt = Annotated[str | None, typer.Option("--slice-columns", help="Columns for slice analysis: a,b")]
HeaderOpt = Annotated[
    bool | None, typer.Option("--header/--no-header", help="Whether the first line names the columns")
]
DatasetOpt = Annotated[str, typer.Option("--dataset", "-d", help="Data set name")]
UPLOAD_TIMEOUT = httpx.Timeout(30.0, read=3600.0, write=3600.0)


def _mapping(fmt: str | None, header: bool | None, text: str | None, label: str | None, slices: str | None) -> dict:
    fields = {"format": fmt, "has_header": header, "text_column": text, "label_column": label, "slice_columns": slices}
    return {k: v for k, v in fields.items() if v is not None}


class _Counted:
    """A file that reports what has been read from it (httpx streams it in chunks from `read`)."""

    def __init__(self, raw: IO[bytes], progress: Progress, task: Any) -> None:
        self.raw, self.progress, self.task = raw, progress, task

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.progress.advance(self.task, len(data))
        return data

    def fileno(self) -> int:  # lets httpx size the body (Content-Length) without reading it
        return self.raw.fileno()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.raw.seek(offset, whence)

    def tell(self) -> int:
        return self.raw.tell()


def _post_file(path: Path, dataset: str, fields: dict[str, Any]) -> Any:
    form = {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in fields.items()}
    ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    columns = (BarColumn(), DownloadColumn(), TransferSpeedColumn())
    try:
        with path.open("rb") as raw, Progress(*columns, console=console, transient=True) as progress:
            counted = _Counted(raw, progress, progress.add_task("upload", total=path.stat().st_size))
            with api("ingest", timeout=30.0) as client:
                response = client.post(
                    f"/v1/datasets/{dataset}/files",
                    data=form,
                    files={"file": (path.name, counted, ctype)},  # type: ignore[dict-item]
                    timeout=UPLOAD_TIMEOUT,
                )
    except httpx.ConnectError:
        console.print(f"[red]ingest is not answering at {ServiceUrls().of('ingest')}[/red] (is `make up` running?)")
        raise typer.Exit(2) from None
    return answer(response)


def _show_receipt(receipt: dict[str, Any]) -> None:
    table = Table(show_header=False, box=None)
    for label, key in (("upload id", "upload_id"), ("stored at", "uri"), ("size", "size_bytes")):
        table.add_row(f"[bold]{label}[/bold]", str(receipt[key]))
    table.add_row("[bold]correlation id[/bold]", receipt["correlation_id"])
    table.add_row("[bold]mapping[/bold]", json.dumps(receipt["mapping"]) if receipt["mapping"] else "(detected)")
    console.print(table)
    console.print(f"Follow it: [cyan]mlops datasets {receipt['dataset']}[/cyan]")


def upload(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="The data file")],
    dataset: DatasetOpt,
    fmt: FormatOpt = None,
    text_column: TextOpt = None,
    label_column: LabelOpt = None,
    slice_columns: SliceOpt = None,
    header: HeaderOpt = None,
) -> None:
    """Upload a data file (streamed) into raw/ through the ingest service."""
    receipt = _post_file(file, dataset, _mapping(fmt, header, text_column, label_column, slice_columns))
    console.print(f"[green]accepted[/green] {file.name} into data set [bold]{dataset}[/bold]")
    _show_receipt(receipt)


def import_url(
    url: Annotated[str, typer.Argument(help="http(s) URL of the data file")],
    dataset: DatasetOpt,
    fmt: FormatOpt = None,
    text_column: TextOpt = None,
    label_column: LabelOpt = None,
    slice_columns: SliceOpt = None,
    header: HeaderOpt = None,
) -> None:
    """Have the ingest service fetch a file from a URL into raw/."""
    body = {"url": url, **_mapping(fmt, header, text_column, label_column, slice_columns)}
    receipt = call("ingest", "POST", f"/v1/datasets/{dataset}/imports", json=body)
    console.print(f"[green]imported[/green] {receipt['filename']} into data set [bold]{dataset}[/bold]")
    _show_receipt(receipt)


def _when(value: str | None) -> str:
    return datetime.fromisoformat(value).astimezone().strftime("%m-%d %H:%M:%S") if value else ""


def _stage(stage: str, ok: bool) -> str:
    return stage if ok else f"[red]{stage}[/red]"


def _reason(steps: list[dict[str, Any]]) -> str:
    failed = [s for s in steps if not s["ok"]]
    return str(failed[-1]["detail"].get("reason", "")) if failed else ""


def _list() -> None:
    rows = call("ingest", "GET", "/v1/datasets")
    table = Table("data set", "stage", "uploads", "versions", "latest version", "updated")
    for row in rows:
        table.add_row(
            row["dataset"],
            _stage(row["stage"], row["ok"]),
            str(row["upload_count"]),
            str(row["version_count"]),
            row["latest_version"] or "",
            _when(row["updated_at"]),
        )
    console.print(table if rows else "No data sets yet: `mlops upload FILE --dataset NAME`.")


def _counts(splits: dict[str, Any]) -> str:
    return "  ".join(f"{name} {split['total']}" for name, split in splits.items())


def _show(view: dict[str, Any], steps: bool) -> None:
    console.print(f"[bold]{view['dataset']}[/bold]: {_stage(view['stage'], view['ok'])}")
    uploads = Table("upload", "source", "file", "size", "stage", "versions", "reason", title="uploads")
    for u in view["uploads"]:
        size = f"{u['size']:,}" if u["size"] is not None else ""
        reason = _reason(u["steps"])
        stage = _stage(u["stage"], u["ok"])
        uploads.add_row(u["upload_id"], u["source"], u["filename"], size, stage, ", ".join(u["versions"]), reason)
    console.print(uploads)
    versions = Table("version", "stage", "rows", "splits", "labels", "models", title="versions")
    for v in view["versions"]:
        labels = ", ".join(v["labels"])
        models = ", ".join(v["models"])
        versions.add_row(
            v["version"], _stage(v["stage"], v["ok"]), str(v["rows_in"] or ""), _counts(v["splits"]), labels, models
        )
    if view["versions"]:
        console.print(versions)
    if steps:
        _show_steps(view)


def _show_steps(view: dict[str, Any]) -> None:
    for u in view["uploads"]:
        table = Table("when", "event", "from", "detail", title=f"upload {u['upload_id']} ({u['filename']})")
        for s in u["steps"]:
            detail = ", ".join(f"{k}={v}" for k, v in s["detail"].items() if k not in ("dataset", "upload_id"))
            table.add_row(_when(s["occurred_at"]), _stage(s["type"], s["ok"]), s["source"], detail[:160])
        console.print(table)


def datasets(
    name: Annotated[str | None, typer.Argument(help="A data set: its uploads, versions and stages")] = None,
    steps: Annotated[bool, typer.Option("--steps", help="Show every event of each upload")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw answer")] = False,
) -> None:
    """Data sets and where each upload and version is in the pipeline."""
    if name is None and not as_json:
        _list()
        return
    view = call("ingest", "GET", f"/v1/datasets/{name}" if name else "/v1/datasets")
    if as_json:
        console.print_json(data=view)
    else:
        _show(view, steps)


def register(app: typer.Typer) -> None:
    app.command("upload")(upload)
    app.command("import")(import_url)
    app.command("datasets")(datasets)
