"""The reference of a promoted model: what "no drift" looks like for it.

Built when a model is promoted to an environment, from what the trainer wrote next to the model (the model card with
its test metrics, `reference.jsonl` with per-row split, text, label, prediction and probability) and from the data
set's `transformer.json` (the training vocabulary). Stored under `monitoring/{env}/reference/{model}/v{version}/` in
the environment's bucket: `rows.jsonl` (a seeded sample, held-out rows first, with descriptors) and `meta.json`.

Held-out rows (dev, test) come first because the model's predictions and confidences on its own training rows are
optimistic, and training rows have no out-of-vocabulary words by construction; either would make healthy traffic
look drifted. Training rows fill up the sample when the held-out splits are small.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from services.monitor.descriptors import DESCRIPTORS, Vocabulary, descriptor_frame
from services.monitor.storage import ObjectStore
from shared.datasets import Transformer
from shared.events import S3Location
from shared.modelcard import CARD_FILE, REFERENCE_FILE, ModelCard

log = logging.getLogger(__name__)
ROW_COLUMNS = ("split", "text", "label", "prediction", "probability")


class ReferenceUnavailable(Exception):
    """The reference cannot be built or read (a missing or unreadable object); the reason says which."""


@dataclass
class ReferenceData:
    """A model's reference rows (with descriptors) and the facts the checks compare against."""

    environment: str
    model_name: str
    version: int
    dataset: str
    dataset_version: str
    labels: list[str]
    test_metrics: dict[str, Any]
    vocabulary: Vocabulary
    rows: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)

    def held_out(self, minimum: int) -> pd.DataFrame:
        """Dev/test rows when there are at least `minimum` of them, else every row (noted by the caller)."""
        held = self.rows[self.rows["split"] != "train"]
        return held if len(held) >= minimum else self.rows

    def meta(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "model_name": self.model_name,
            "version": self.version,
            "dataset": self.dataset,
            "dataset_version": self.dataset_version,
            "labels": self.labels,
            "test_metrics": self.test_metrics,
            "vocabulary": {
                "tokens": sorted(self.vocabulary.tokens),
                "pattern": self.vocabulary.pattern,
                "lowercase": self.vocabulary.lowercase,
                "source": self.vocabulary.source,
            },
            "rows": len(self.rows),
            "splits": {str(k): int(v) for k, v in self.rows["split"].value_counts().items()},
            "notes": self.notes,
            "sources": self.sources,
        }


def reference_prefix(env: str, model_name: str, version: int) -> str:
    return f"monitoring/{env}/reference/{model_name}/v{version}/"


def card_location(artifact: S3Location) -> S3Location:
    """The model card lies next to the model file (same prefix), see shared.modelcard."""
    prefix = artifact.key.rsplit("/", 1)[0] + "/" if "/" in artifact.key else ""
    return S3Location(bucket=artifact.bucket, key=prefix + CARD_FILE)


async def _required(store: ObjectStore, location: S3Location, what: str) -> bytes:
    data = await store.get(location.bucket, location.key)
    if data is None:
        raise ReferenceUnavailable(f"{what} missing in S3: {location.uri}")
    return data


def parse_reference_rows(data: bytes) -> tuple[pd.DataFrame, int]:
    """Rows of `reference.jsonl` and the number of lines that did not parse (skipped, never fatal)."""
    rows, bad = [], 0
    for line in data.decode("utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            rows.append(
                {
                    "split": str(item.get("split") or "test"),
                    "text": str(item["text"]),
                    "label": str(item["label"]),
                    "prediction": None if item.get("prediction") in (None, "") else str(item["prediction"]),
                    "probability": None if item.get("probability") is None else float(item["probability"]),
                }
            )
        except (ValueError, KeyError, TypeError):
            bad += 1
    return pd.DataFrame(rows, columns=list(ROW_COLUMNS)), bad


def select_rows(rows: pd.DataFrame, size: int, seed: int) -> pd.DataFrame:
    """Up to `size` rows, held-out rows first, each part a seeded random sample."""
    held = rows[rows["split"] != "train"]
    train = rows[rows["split"] == "train"]
    held = held.sample(n=min(size, len(held)), random_state=seed)
    rest = size - len(held)
    train = train.sample(n=min(rest, len(train)), random_state=seed) if rest > 0 else train.iloc[:0]
    return pd.concat([held, train], ignore_index=True)


async def _vocabulary(store: ObjectStore, card: ModelCard, rows: pd.DataFrame, notes: list[str]) -> Vocabulary:
    data = await store.get(card.transformer.bucket, card.transformer.key)
    if data is not None:
        try:
            vocabulary = Vocabulary.from_transformer(Transformer.model_validate_json(data).vocabulary)
        except ValidationError as exc:
            notes.append(f"transformer.json unreadable ({exc.error_count()} errors)")
            vocabulary = None
        if vocabulary is not None:
            return vocabulary
    else:
        notes.append(f"transformer.json missing ({card.transformer.uri})")
    notes.append("out-of-vocabulary share measured against the reference's training texts instead")
    train = rows[rows["split"] == "train"]
    return Vocabulary.from_texts((train if len(train) else rows)["text"])


async def build_reference(
    store: ObjectStore, env: str, model_name: str, version: int, artifact: S3Location, size: int, seed: int
) -> ReferenceData:
    """Read the card, reference rows and vocabulary of a promoted model; raises ReferenceUnavailable."""
    card_at = card_location(artifact)
    try:
        card = ModelCard.model_validate_json(await _required(store, card_at, "model card"))
    except ValidationError as exc:
        raise ReferenceUnavailable(f"model card unreadable: {card_at.uri}: {exc.error_count()} errors") from exc
    rows_at = card.reference or S3Location(bucket=card_at.bucket, key=card_at.key.replace(CARD_FILE, REFERENCE_FILE))
    rows, bad = parse_reference_rows(await _required(store, rows_at, "reference rows"))
    notes = [f"{bad} reference lines did not parse and were skipped"] if bad else []
    if rows.empty:
        raise ReferenceUnavailable(f"reference rows empty: {rows_at.uri}")
    vocabulary = await _vocabulary(store, card, rows, notes)
    kept = select_rows(rows, size, seed)
    described = pd.concat([kept.reset_index(drop=True), descriptor_frame(list(kept["text"]), vocabulary)], axis=1)
    return ReferenceData(
        environment=env,
        model_name=model_name,
        version=version,
        dataset=card.dataset,
        dataset_version=card.dataset_version,
        labels=list(card.labels),
        test_metrics=card.test_metrics.model_dump(),
        vocabulary=vocabulary,
        rows=described,
        notes=notes,
        sources={"model_card": card_at.uri, "reference": rows_at.uri, "transformer": card.transformer.uri},
    )


async def save_reference(store: ObjectStore, bucket: str, reference: ReferenceData) -> str:
    """Write rows and meta under the reference prefix; returns the prefix."""
    prefix = reference_prefix(reference.environment, reference.model_name, reference.version)
    body = reference.rows.to_json(orient="records", lines=True, force_ascii=False)
    await store.put(bucket, prefix + "rows.jsonl", body.encode("utf-8"), "application/x-ndjson")
    meta = json.dumps(reference.meta(), indent=1, default=str).encode()
    await store.put(bucket, prefix + "meta.json", meta, "application/json")
    return prefix


async def load_reference(store: ObjectStore, bucket: str, prefix: str) -> ReferenceData:
    """The stored reference; raises ReferenceUnavailable when an object is missing or unreadable."""
    meta_raw = await _required(store, S3Location(bucket=bucket, key=prefix + "meta.json"), "reference meta")
    rows_raw = await _required(store, S3Location(bucket=bucket, key=prefix + "rows.jsonl"), "reference rows")
    try:
        meta = json.loads(meta_raw)
        rows = pd.DataFrame([json.loads(line) for line in rows_raw.decode("utf-8").splitlines() if line.strip()])
        vocab = meta["vocabulary"]
        vocabulary = Vocabulary(frozenset(vocab["tokens"]), vocab["pattern"], vocab["lowercase"], vocab["source"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ReferenceUnavailable(f"stored reference unreadable at s3://{bucket}/{prefix}: {exc}") from exc
    missing = [c for c in (*ROW_COLUMNS, *DESCRIPTORS) if c not in rows.columns]
    if rows.empty or missing:
        raise ReferenceUnavailable(f"stored reference at s3://{bucket}/{prefix} lacks rows or columns {missing}")
    rows["probability"] = pd.to_numeric(rows["probability"], errors="coerce").astype(np.float64)
    return ReferenceData(
        environment=meta["environment"],
        model_name=meta["model_name"],
        version=int(meta["version"]),
        dataset=meta["dataset"],
        dataset_version=meta["dataset_version"],
        labels=list(meta["labels"]),
        test_metrics=dict(meta["test_metrics"]),
        vocabulary=vocabulary,
        rows=rows,
        notes=list(meta.get("notes", [])),
        sources=dict(meta.get("sources", {})),
    )
