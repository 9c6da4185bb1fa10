"""Demo, serving stage: the inference service serves the model promoted to dev; predictions, feedback labels, a
second version swapped in while requests flow (zero failed requests), and the captured traffic in S3.

Reads from `ctx.state`: `model_name`, `model_version` (registry stage), `dataset`. A second version comes from a
short second study on the same data set (another seed, through the trainer's API); the registry registers and
reviews it, and when dev's policy does not promote it by itself, the stage approves and promotes it through the
registry's API with the local stack's demo tokens (approver and promoter), or `MLOPS_REGISTRY_TOKEN` when set.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from typing import Any

import httpx
from rich.table import Table

from shared.capture import CaptureRecord, capture_prefix
from shared.demo.context import DemoContext
from shared.demo.data import INTENTS, ticket
from shared.devstack import DEMO_TOKENS
from shared.settings import CommonSettings

SECOND_STUDY = {"n_trials": 1, "seed": 4242, "reason": "demo: a second version to swap in while serving"}


def _serving(ctx: DemoContext) -> dict[str, Any] | None:
    try:
        answer = ctx.http.get(ctx.url("inference", "/v1/model"), timeout=5)
    except httpx.HTTPError:
        return None
    return answer.json() if answer.status_code == 200 else None


def _wait_serving(ctx: DemoContext, name: str, version: int, timeout: float = 180) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        model = _serving(ctx)
        return model if model and model["model_name"] == name and model["version"] == version else None

    return ctx.wait_for(f"inference to serve {name} v{version} in dev", probe, timeout=timeout)


def _show_model(ctx: DemoContext, model: dict[str, Any]) -> None:
    table = Table(show_header=False, box=None)
    lineage = model.get("lineage", {})
    for key, value in (
        ("model", f"{model['model_name']} v{model['version']} ({model['environment']})"),
        ("loaded at", model["loaded_at"]),
        ("artifact", model["artifact"]),
        ("sha256", model["sha256"][:16] + "... (verified before loading)"),
        ("text cleaning", f"{model['transformer']} {model['normalisation']}"),
        ("data set", f"{lineage.get('dataset')} {lineage.get('dataset_version')}"),
    ):
        table.add_row(f"[bold]{key}[/bold]", str(value))
    ctx.console.print(table)


def _examples(n: int = 6) -> list[tuple[str, str]]:
    rng = random.Random(40)
    labels = list(INTENTS)
    return [(labels[i % len(labels)], ticket(labels[i % len(labels)], rng)) for i in range(n)]


def _predict_and_feedback(ctx: DemoContext) -> None:
    examples = _examples()
    answer = ctx.http.post(
        ctx.url("inference", "/v1/predict"), json={"texts": [t for _, t in examples], "all_probabilities": True}
    )
    answer.raise_for_status()
    body = answer.json()
    table = Table(
        "text", "predicted", "p", "true", title=f"predictions of {body['model_name']} v{body['model_version']}"
    )
    for (truth, text), p in zip(examples, body["predictions"], strict=True):
        mark = "[green]" if p["label"] == truth else "[red]"
        table.add_row(text[:70], f"{mark}{p['label']}[/]", f"{p['probability']:.2f}", truth)
    ctx.console.print(table)
    stored = 0
    for (truth, _), p in list(zip(examples, body["predictions"], strict=True))[:3]:
        fb = ctx.http.post(
            ctx.url("inference", "/v1/feedback"), json={"prediction_id": p["prediction_id"], "label": truth}
        )
        stored += fb.status_code == 201
    ctx.say(f"Sent 3 ground-truth labels to /v1/feedback: {stored} stored under S3 feedback/dev/ for the monitor.")


class Traffic:
    """Steady requests in a background thread while the new version is promoted: counts outcomes and versions."""

    def __init__(self, ctx: DemoContext) -> None:
        self.url = ctx.url("inference", "/v1/predict")
        self.stop = threading.Event()
        self.statuses: Counter[int] = Counter()
        self.versions: list[int] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        texts = [t for _, t in _examples(30)]
        with httpx.Client(timeout=30) as client:
            i = 0
            while not self.stop.is_set():
                try:
                    answer = client.post(self.url, json={"texts": [texts[i % len(texts)]]})
                    self.statuses[answer.status_code] += 1
                    if answer.status_code == 200:
                        version = int(answer.json()["model_version"])
                        if not self.versions or self.versions[-1] != version:
                            self.versions.append(version)
                except httpx.HTTPError:
                    self.statuses[0] += 1
                i += 1
                time.sleep(0.02)

    def __enter__(self) -> Traffic:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(30)


def _registry(ctx: DemoContext, path: str) -> Any:
    answer = ctx.http.get(ctx.url("registry", path))
    return answer.json() if answer.status_code == 200 else None


def _newer_version(ctx: DemoContext, name: str, than: int) -> dict[str, Any] | None:
    listing = _registry(ctx, f"/v1/models/{name}/versions") or {}
    rows = listing.get("versions", listing) if isinstance(listing, dict) else listing
    newer = [r for r in rows or [] if int(r["version"]) > than and r.get("status") not in (None, "registered")]
    return max(newer, key=lambda r: int(r["version"])) if newer else None


def _dev_version(ctx: DemoContext, name: str) -> int | None:
    alias = _registry(ctx, f"/v1/models/{name}/aliases/dev")
    return int(alias["version"]) if alias else None


def _tokens(triggered_by: str | None) -> tuple[str, str]:
    """(approver, promoter) bearer tokens: the local stack's demo people, or MLOPS_REGISTRY_TOKEN (one admin)."""
    people = {grant["actor"]: token for token, grant in DEMO_TOKENS.items()}
    if os.environ.get("MLOPS_REGISTRY_TOKEN"):
        admin = os.environ["MLOPS_REGISTRY_TOKEN"]
        return admin, admin
    approver = people["bob"] if triggered_by == "ana" else people["ana"]  # four eyes: not who trained it
    return approver, people["carl"]


def _promote(ctx: DemoContext, name: str, version: int, triggered_by: str | None) -> None:
    """Approve (when still pending) and promote to dev through the registry's API."""
    approver, promoter = _tokens(triggered_by)
    base = ctx.url("registry", f"/v1/models/{name}/versions/{version}")
    reason = {"environment": "dev", "reason": "demo: swap a second version in while serving"}
    approval = ctx.http.post(f"{base}/approve", json=reason, headers={"Authorization": f"Bearer {approver}"})
    if approval.status_code not in (200, 409):  # 409: already decided (approved automatically)
        raise RuntimeError(f"registry refused the approval: {approval.status_code} {approval.text}")
    promoted = ctx.http.post(f"{base}/promote", json=reason, headers={"Authorization": f"Bearer {promoter}"})
    if promoted.status_code != 200:
        raise RuntimeError(f"registry refused the promotion: {promoted.status_code} {promoted.text}")


def _second_version(ctx: DemoContext, name: str, current: int) -> int:
    dataset = ctx.state.get("dataset")
    answer = ctx.http.post(ctx.url("trainer", "/v1/studies"), json={"dataset": dataset, **SECOND_STUDY})
    if answer.status_code >= 300:
        raise RuntimeError(f"trainer refused the second study: {answer.status_code} {answer.text}")
    ctx.say(f"Trainer runs a second, one-trial study on {dataset} (seed {SECOND_STUDY['seed']}) ...")
    row = ctx.wait_for("the registry to register and review it", lambda: _newer_version(ctx, name, current), 600, 2)
    version = int(row["version"])
    ctx.say(f"Registry: {name} v{version} is {row.get('status')}.")
    deadline = time.monotonic() + 20  # dev's policy may promote it by itself
    while time.monotonic() < deadline and _dev_version(ctx, name) != version:
        time.sleep(1)
    if _dev_version(ctx, name) != version:
        _promote(ctx, name, version, row.get("triggered_by"))
        ctx.say(f"Promoted {name} v{version} to dev through the registry's API.")
    else:
        ctx.say(f"Dev's policy promoted {name} v{version} automatically.")
    return version


def _promoted_to_dev(ctx: DemoContext) -> tuple[str | None, int | None]:
    try:
        listing = _registry(ctx, "/v1/models") or {}
    except httpx.HTTPError:
        return None, None
    for model in listing.get("models", []):
        if "dev" in (model.get("aliases") or {}):
            return str(model["model_name"]), int(model["aliases"]["dev"])
    return None, None


def _show_capture(ctx: DemoContext, name: str) -> None:
    import boto3
    from botocore.config import Config

    common = CommonSettings()
    bucket = common.bucket_for("dev")
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    s3 = boto3.client("s3", endpoint_url=endpoint, config=Config(s3={"addressing_style": "path"}))

    def objects() -> list[str] | None:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=capture_prefix("dev", name))
        keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
        return keys or None

    keys = ctx.wait_for("captured traffic in S3", objects, timeout=60)
    records = [
        CaptureRecord.model_validate_json(line)
        for key in keys
        for line in s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode().splitlines()
    ]
    per_version = Counter(r.version for r in records)
    ctx.say(
        f"[green]Captured traffic[/green]: {len(records)} records in {len(keys)} JSONL objects under "
        f"s3://{bucket}/{capture_prefix('dev', name)} (by version: {dict(sorted(per_version.items()))})"
    )
    sample = records[-1]
    ctx.say(f"  e.g. {sample.ts:%H:%M:%S} v{sample.version} {sample.label} ({sample.probability:.2f}): {sample.text!r}")


def run(ctx: DemoContext) -> None:
    ctx.step("Serving: predictions from the promoted model, a hot swap under traffic, captured traffic")
    name, version = ctx.state.get("model_name"), ctx.state.get("model_version")
    if not name or version is None:
        name, version = _promoted_to_dev(ctx)
    if not name or version is None:
        ctx.say("[yellow]No model is promoted to dev (registry stage missing or failed): nothing to serve.[/yellow]")
        return
    model = _wait_serving(ctx, name, int(version))
    ctx.say(f"[green]Inference serves {name} v{version}[/green] ({ctx.url('inference', '/docs')}):")
    _show_model(ctx, model)
    _predict_and_feedback(ctx)
    with Traffic(ctx) as traffic:
        new = _second_version(ctx, name, int(version))
        _wait_serving(ctx, name, new, timeout=120)
        time.sleep(1.0)  # a little traffic on the new version too
    failed = sum(n for status, n in traffic.statuses.items() if status != 200)
    total = sum(traffic.statuses.values())
    colour = "green" if failed == 0 else "red"
    ctx.say(
        f"[{colour}]Swapped v{version} -> v{new} under traffic: {total} requests, {failed} failed[/{colour}] "
        f"(versions answering, in order: {' -> '.join(f'v{v}' for v in traffic.versions)})"
    )
    ctx.state.update(model_version=new, previous_model_version=int(version))
    _show_capture(ctx, name)
