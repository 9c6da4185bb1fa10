"""A prepared data set (through the real prep service) triggers the trainer's default study by its manifest's S3
notification; the best model, its card, reference predictions, trial table and plots land where the contract says,
and the events tell the story under the data set's correlation id."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from shared.classifier import load_verified, predict
from shared.events import TrainingCompleted, TrainingStarted
from shared.modelcard import ModelCard
from shared.topology import Topology
from tests.conftest import boto
from tests.integration.prep.conftest import Capture
from tests.integration.trainer.conftest import StartTrainer, get_bytes, get_json, keys_under
from tests.support.pipeline import prepared_dataset

pytestmark = pytest.mark.integration


def test_manifest_triggers_a_study_that_publishes_the_best_model(
    topology: Topology, start_trainer: StartTrainer, capture: Capture, tmp_path: Path
) -> None:
    manifest = prepared_dataset(topology)
    with start_trainer() as url:
        done = capture.wait_for(lambda e: e.type in ("training.completed", "training.failed"), timeout=240)
        completed = done[0].payload_as(TrainingCompleted)
        study = httpx.get(f"{url}/v1/studies/{completed.study_id}").json()

    started = [e for e in capture.seen if e.type == "training.started"]
    assert len(started) == 1 and started[0].payload_as(TrainingStarted).n_trials == 2
    assert {e.correlation_id for e in [*started, *done]} == {"corr-tickets"}  # from the raw upload's metadata
    assert (completed.dataset, completed.version, completed.model_name) == ("tickets", manifest.version, "tickets-clf")
    assert completed.trials_completed + completed.trials_pruned + completed.trials_failed == 2

    prefix = f"models/tickets-clf/{completed.candidate_id}/"
    assert keys_under(topology, prefix) == [prefix + n for n in ("model.pt", "model_card.json", "reference.jsonl")]
    card = ModelCard.model_validate(get_json(topology, prefix + "model_card.json"))
    assert card.best_value == completed.best_value == card.dev_metrics.macro_f1
    assert card.artifact_sha256 == completed.artifact_sha256 and card.dataset_digest == manifest.output_digest
    assert card.test_metrics.n == manifest.splits["test"].total and card.labels == manifest.labels

    (tmp_path / "model.pt").write_bytes(get_bytes(topology, prefix + "model.pt"))
    model = load_verified(tmp_path / "model.pt", completed.artifact_sha256)
    reference = [json.loads(line) for line in get_bytes(topology, prefix + "reference.jsonl").decode().splitlines()]
    by_split = {s: [r for r in reference if r["split"] == s] for s in ("train", "dev", "test")}
    assert {s: len(rows) for s, rows in by_split.items()} == {s: c.total for s, c in manifest.splits.items()}
    again = predict(model, [r["text"] for r in by_split["test"]])
    assert [p.label for p in again] == [r["prediction"] for r in by_split["test"]]

    experiments = keys_under(topology, completed.experiments_prefix)
    for name in (
        "trials.csv",
        "trials.json",
        "summary.json",
        "plots/optimization_history.html",
        "plots/param_importances.html",
        "plots/parallel_coordinate.html",
    ):
        assert completed.experiments_prefix + name in experiments
    trials = get_json(topology, completed.experiments_prefix + "trials.json")
    assert [t["number"] for t in trials] == [0, 1] and all(t["seed"] for t in trials)

    assert study["state"] == "completed" and study["progress"]["trials_done"] == 2
    assert study["outcome"]["candidate_id"] == completed.candidate_id
    assert boto("s3").head_object(Bucket=topology.home_bucket, Key=card.manifest.key)
