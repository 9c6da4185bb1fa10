"""Demo, monitoring stage: drift checks of the served model on the traffic the demo sends.

Two windows of traffic through the inference API: fresh support tickets (the model's own domain), then film reviews
it was never trained on. After each, a drift check runs now (`POST /v1/runs` on the monitor) over exactly that
window, and the stage shows every check's verdict and the link to the run's report (served by the monitor from the
HTML Evidently wrote to S3 `monitoring/dev/{run}/`). The film reviews raise `drift.detected` (warning: a first
drifted run; high once it persists), which the alerts stage shows.

Reads `ctx.state`: `model_name`, `model_version` (registry and serving stages); falls back to what the monitor
recorded for dev.
"""

from __future__ import annotations

import os
import random
import time
from datetime import UTC, datetime
from typing import Any

import httpx
from rich.table import Table

from shared.capture import CaptureRecord, capture_prefix
from shared.demo.context import DemoContext
from shared.demo.data import rows as ticket_rows
from shared.settings import CommonSettings

ENV = "dev"
TEXTS_PER_WINDOW = 160
_FILM = {
    "opening": ["Honestly,", "", "Well,", "I have to say", "In the end", "Frankly"],
    "subject": ["the film", "this movie", "the sequel", "the director's cut", "the lead actor", "the screenplay"],
    "verdict": [
        "drags through a predictable second act",
        "has stunning cinematography but a hollow plot",
        "wastes a brilliant cast on clumsy dialogue",
        "is the most moving drama of the decade",
        "ends with a twist nobody will see coming",
        "feels like a music video stretched to three hours",
    ],
    "closing": ["", "Two stars.", "A must-see!", "Skip it.", "The soundtrack alone is worth it.", "Oscar material."],
}


def film_review(rng: random.Random) -> str:
    parts = [rng.choice(_FILM[k]) for k in ("opening", "subject", "verdict")]
    text = " ".join(p for p in parts if p) + "."
    closing = rng.choice(_FILM["closing"])
    return f"{text} {closing}".strip()


def _monitor_up(ctx: DemoContext) -> bool:
    try:
        return ctx.http.get(ctx.url("monitor", "/healthz"), timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def _reference(ctx: DemoContext, version: int | None) -> dict[str, Any] | None:
    rows = ctx.http.get(ctx.url("monitor", "/v1/references")).json()
    found = next((r for r in rows if r["environment"] == ENV), None)
    return found if found and (version is None or int(found["version"]) == version) else None


def _send(ctx: DemoContext, texts: list[str]) -> int:
    sent = 0
    for i in range(0, len(texts), 20):
        answer = ctx.http.post(ctx.url("inference", "/v1/predict"), json={"texts": texts[i : i + 20]})
        answer.raise_for_status()
        sent += len(answer.json()["predictions"])
    return sent


def _captured_since(name: str, version: int, since: datetime) -> int:
    """Records of this model version captured at or after `since` (inference flushes every few seconds)."""
    import boto3
    from botocore.config import Config

    bucket = CommonSettings().bucket_for(ENV)
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    s3 = boto3.client("s3", endpoint_url=endpoint, config=Config(s3={"addressing_style": "path"}))
    prefix = f"{capture_prefix(ENV, name)}{since:%Y/%m/%d}/"
    keys = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for o in page.get("Contents", [])
    ]
    count = 0
    for key in keys:
        for line in s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode().splitlines():
            record = CaptureRecord.model_validate_json(line)
            count += record.version == version and record.ts >= since
    return count


def _window(ctx: DemoContext, title: str, texts: list[str], name: str, version: int) -> dict[str, Any]:
    start = datetime.now(UTC)
    sent = _send(ctx, texts)
    ctx.say(f"{title}: sent {sent} texts to {ctx.url('inference', '/v1/predict')}")
    ctx.wait_for(
        "inference to write the captured traffic to S3",
        lambda: True if _captured_since(name, version, start) >= sent else None,
        timeout=90,
        interval=2,
    )
    time.sleep(1.0)  # the window ends after the last captured record
    body = {"environment": ENV, "window_start": start.isoformat(), "window_end": datetime.now(UTC).isoformat()}
    answer = ctx.http.post(ctx.url("monitor", "/v1/runs"), json=body, timeout=300)
    if answer.status_code != 200:
        raise RuntimeError(f"the monitor refused the drift run: {answer.status_code} {answer.text}")
    (result,) = answer.json()["runs"]
    return dict(result)


_STYLE = {"drift": "red", "no_drift": "green", "not_enough_data": "yellow", "error": "red", "skipped": "dim"}


def _show(ctx: DemoContext, run: dict[str, Any]) -> None:
    verdict = run["verdict"]
    level = f" ({run['level']} severity, {run['consecutive']} consecutive)" if run.get("level") else ""
    table = Table("check", "status", "score", "threshold", "note", title=f"drift run {run['id']}")
    for name, check in run["checks"].items():
        style = _STYLE.get(check["status"], "")
        score = check.get("score")
        table.add_row(
            name,
            f"[{style}]{check['status']}[/{style}]",
            "" if score is None else f"{score:.3f}",
            str(check.get("threshold", "")),
            check.get("reason", "")[:70],
        )
    if run["checks"]:
        ctx.console.print(table)
    counts = run["counts"]
    ctx.say(
        f"Verdict: [{_STYLE.get(verdict, '')}]{verdict}[/]{level}  {run['reason']}\n"
        f"  {counts.get('records', 0)} records in the window, {counts.get('sampled', 0)} compared"
        f" with the reference of {run['model_name']} v{run['version']}\n  Report: {run['report_url']}"
    )


def run(ctx: DemoContext) -> None:
    ctx.step("Monitoring: drift checks on the captured traffic (Evidently reports)")
    if not _monitor_up(ctx):
        ctx.say("[yellow]The monitor is not answering; no drift checks to show.[/yellow]")
        return
    name, version = ctx.state.get("model_name"), ctx.state.get("model_version")
    reference = ctx.wait_for(
        "the monitor to record the served model's reference",
        lambda: _reference(ctx, int(version) if version is not None else None),
        timeout=120,
    )
    name, version = reference["model_name"], int(reference["version"])
    ctx.say(
        f"The monitor compares {ENV} traffic with the reference of {name} v{version} "
        f"(status {reference['status']}), recorded when it was promoted."
    )
    tickets = [row["text"] for row in ticket_rows(TEXTS_PER_WINDOW, seed=50)]  # the training data's label mix
    _show(ctx, _window(ctx, "In-domain traffic (fresh support tickets)", tickets, name, version))
    rng = random.Random(50)
    films = [film_review(rng) for _ in range(TEXTS_PER_WINDOW)]
    drifted = _window(ctx, "Out-of-domain traffic (film reviews)", films, name, version)
    _show(ctx, drifted)
    ctx.state.update(drift_run=drifted["id"], drift_report=drifted["report_url"])
    ctx.say(
        f"All runs: {ctx.url('monitor', '/v1/runs')} or `mlops drift runs`; the schedule "
        f"({CommonSettings().drift_schedule}) runs the same check by itself."
    )
