"""Real upstream artefacts for the tests of downstream services.

`prepared_dataset` runs the real prep service on a generated CSV (S3 notification and all) and returns the manifest.
`trained_candidate` trains a tiny real Flair model on those corpora and writes what the trainer writes
(`models/{name}/{candidate}/` model file, model card, reference predictions) and the `training.completed` payload,
so registry, inference and monitor tests exercise real models without running an Optuna study.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from shared.classifier import sha256_file
from shared.datasets import SPLITS, Manifest, corpus_key, manifest_key
from shared.demo.data import support_tickets_csv
from shared.events import ColumnMapping, S3Location, TrainingCompleted
from shared.modelcard import CARD_FILE, MODEL_FILE, REFERENCE_FILE, ModelCard, model_prefix
from shared.topology import Topology
from tests.conftest import boto
from tests.support.servers import running, wait_until

TINY_PARAMS: dict[str, Any] = {"doc": "pool", "emb_dim": 32, "min_freq": 1, "lr": 0.01, "batch": 32, "epochs": 2}


def prepared_dataset(topology: Topology, dataset: str = "tickets", n: int = 300, seed: int = 7) -> Manifest:
    """Upload generated support tickets to raw/ and let the real prep service prepare them."""
    from services.prep.app import app as prep_app
    from shared.datasets import mapping_to_metadata

    s3 = boto("s3")
    mapping = ColumnMapping(
        format="csv", has_header=True, text_column="text", label_column="label", slice_columns=("channel", "region")
    )
    metadata = mapping_to_metadata(mapping, correlation_id=f"corr-{dataset}", upload_id=uuid.uuid4().hex)
    with running(prep_app):
        s3.put_object(
            Bucket=topology.home_bucket,
            Key=f"raw/{dataset}/tickets.csv",
            Body=support_tickets_csv(n, seed),
            Metadata=metadata,
        )
        key = wait_until(lambda: _manifest_key(s3, topology.home_bucket, dataset), timeout=60, what="manifest")
    body = s3.get_object(Bucket=topology.home_bucket, Key=key)["Body"].read()
    return Manifest.model_validate_json(body)


def _manifest_key(s3: Any, bucket: str, dataset: str) -> str | None:
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=f"processed/{dataset}/")
    keys = [o["Key"] for o in listing.get("Contents", []) if o["Key"].endswith("/manifest.json")]
    return keys[0] if keys else None


def _download_corpora(s3: Any, bucket: str, manifest: Manifest, target: Path) -> None:
    for split in SPLITS:
        key = corpus_key(manifest.dataset, manifest.version, split)
        (target / f"{split}.txt").write_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def train_tiny(corpus_dir: Path, params: dict[str, Any] | None = None, seed: int = 1) -> Any:
    """A small, real Flair classifier (one-hot embeddings from the corpus, pooled), trained in seconds by the
    trainer's own training code (`services.trainer.modeling.train_model`: same embeddings, classifier, seeding)."""
    from services.trainer.modeling import train_model

    p = {**TINY_PARAMS, **(params or {})}
    return train_model(corpus_dir, p, "macro_f1", seed=seed, threads=1).model


def trained_candidate(
    topology: Topology,
    manifest: Manifest,
    model_name: str = "tickets-clf",
    params: dict[str, Any] | None = None,
    seed: int = 1,
    bucket: str | None = None,
) -> TrainingCompleted:
    """Train a tiny model on the prepared data set and publish it the way the trainer does."""
    from services.trainer.modeling import save_model
    from services.trainer.results import write_reference

    s3 = boto("s3")
    bucket = bucket or topology.home_bucket
    candidate = f"c{uuid.uuid4().hex[:12]}"
    prefix = model_prefix(model_name, candidate)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        _download_corpora(s3, bucket, manifest, work)
        started = time.monotonic()
        model = train_tiny(work, params, seed)
        seconds = time.monotonic() - started
        model.eval()
        # reference.jsonl exactly as the trainer writes it: dev, test and a bounded sample of train
        found = write_reference(model, work, work, train_rows=1000, seed=seed)
        dev_metrics, test_metrics = found["dev"], found["test"]
        save_model(model, work / MODEL_FILE)
        sha = sha256_file(work / MODEL_FILE)
        size = (work / MODEL_FILE).stat().st_size
        s3.upload_file(str(work / MODEL_FILE), bucket, prefix + MODEL_FILE)
        s3.upload_file(str(work / REFERENCE_FILE), bucket, prefix + REFERENCE_FILE)
    card = ModelCard(
        model_name=model_name,
        candidate_id=candidate,
        study_id=f"study-{candidate}",
        created_at=datetime.now(UTC).isoformat(),
        dataset=manifest.dataset,
        dataset_version=manifest.version,
        dataset_digest=manifest.output_digest,
        manifest=S3Location(bucket=bucket, key=manifest_key(manifest.dataset, manifest.version)),
        transformer=S3Location(bucket=bucket, key=manifest.transformer.key),
        labels=manifest.labels,
        embeddings="onehot+pool",
        params={**TINY_PARAMS, **(params or {})},
        objective="macro_f1",
        best_value=dev_metrics.macro_f1,
        dev_metrics=dev_metrics,
        test_metrics=test_metrics,
        seed=seed,
        code_version="test",
        library_versions={},
        artifact=S3Location(bucket=bucket, key=prefix + MODEL_FILE),
        artifact_sha256=sha,
        artifact_bytes=size,
        training_seconds=seconds,
        reference=S3Location(bucket=bucket, key=prefix + REFERENCE_FILE),
    )
    s3.put_object(Bucket=bucket, Key=prefix + CARD_FILE, Body=card.model_dump_json(indent=2).encode())
    return TrainingCompleted(
        study_id=card.study_id,
        model_name=model_name,
        candidate_id=candidate,
        dataset=manifest.dataset,
        version=manifest.version,
        dataset_digest=manifest.output_digest,
        manifest=card.manifest,
        artifact=card.artifact,
        artifact_sha256=sha,
        model_card=S3Location(bucket=bucket, key=prefix + CARD_FILE),
        experiments_prefix=f"experiments/{card.study_id}/",
        objective="macro_f1",
        best_value=card.best_value,
        params=card.params,
        dev_metrics=dev_metrics.model_dump(),
        test_metrics=test_metrics.model_dump(),
        seed=seed,
        code_version="test",
    )


def upload_tickets(ingest_url: str, dataset: str, seed: int, n: int = 400) -> dict[str, Any]:
    """Generated support tickets through ingest's upload API, as a user would send them; returns the receipt."""
    form = {"format": "csv", "text_column": "text", "label_column": "label", "slice_columns": "channel,region"}
    answer = httpx.post(
        f"{ingest_url}/v1/datasets/{dataset}/files",
        data=form,
        files={"file": ("tickets.csv", support_tickets_csv(n, seed), "text/csv")},
        timeout=30,
    )
    assert answer.status_code == 202, answer.text
    receipt: dict[str, Any] = answer.json()
    return receipt
