"""`TRAINER_BACKEND=sagemaker` against the moto server's SageMaker API: the trainer builds the CreateTrainingJob
request, follows the job, and registers its output like a local run. moto marks jobs Completed at once and writes no
artifact, so the test runs the job's real entry point (`services.trainer.sagemaker_entry`) on a local /opt/ml tree
built from the request and puts its model.tar.gz where moto says the artifacts are."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from shared.events import TrainingCompleted
from shared.modelcard import ModelCard
from shared.topology import Topology
from tests.conftest import boto
from tests.integration.prep.conftest import Capture
from tests.integration.trainer.conftest import StartTrainer, get_json
from tests.support.pipeline import prepared_dataset
from tests.support.servers import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.no_localstack]
ROOT = Path(__file__).resolve().parents[3]
SAGEMAKER_ENV = {
    "TRAINER_BACKEND": "sagemaker",
    "TRAINER_SAGEMAKER_IMAGE": "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlops-trainer:test",
    "TRAINER_SAGEMAKER_ROLE_ARN": "arn:aws:iam::123456789012:role/mlops-sagemaker",
    "TRAINER_SAGEMAKER_INSTANCE_TYPE": "ml.m5.large",
    "TRAINER_SAGEMAKER_POLL_SECONDS": "0.5",
    "TRAINER_SAGEMAKER_ARTIFACT_WAIT_SECONDS": "240",
}


def run_entry_point(job: dict, root: Path) -> bytes:
    """What the container does: the channel's files and the hyperparameters under /opt/ml, the entry point, tar."""
    s3 = boto("s3")
    source = job["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"]
    bucket, prefix = source[5:].split("/", 1)
    channel = root / "input" / "data" / "training"
    channel.mkdir(parents=True)
    for obj in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]:
        (channel / obj["Key"][len(prefix) :]).write_bytes(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
    (root / "input" / "config").mkdir(parents=True)
    (root / "input" / "config" / "hyperparameters.json").write_text(json.dumps(job["HyperParameters"]))
    subprocess.run(
        [sys.executable, "-m", "services.trainer.sagemaker_entry", "train"],
        cwd=ROOT,
        check=True,
        env={**os.environ, "SM_ROOT": str(root)},
    )
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in sorted((root / "model").rglob("*")):
            archive.add(path, arcname=str(path.relative_to(root / "model")), recursive=False)
    return buffer.getvalue()


def test_sagemaker_backend_runs_the_job_and_registers_its_output(
    topology: Topology, start_trainer: StartTrainer, capture: Capture, tmp_path: Path
) -> None:
    manifest = prepared_dataset(topology)
    sagemaker = boto("sagemaker")
    with start_trainer(**SAGEMAKER_ENV):
        names = wait_until(
            lambda: [j["TrainingJobName"] for j in sagemaker.list_training_jobs()["TrainingJobSummaries"]],
            timeout=120,
            what="a training job",
        )
        job = sagemaker.describe_training_job(TrainingJobName=names[0])
        assert job["AlgorithmSpecification"]["TrainingImage"] == SAGEMAKER_ENV["TRAINER_SAGEMAKER_IMAGE"]
        assert job["RoleArn"] == SAGEMAKER_ENV["TRAINER_SAGEMAKER_ROLE_ARN"]
        assert job["ResourceConfig"]["InstanceType"] == "ml.m5.large"
        channel = job["InputDataConfig"][0]
        assert channel["ChannelName"] == "training"
        assert channel["DataSource"]["S3DataSource"]["S3Uri"] == (
            f"s3://{topology.home_bucket}/processed/tickets/{manifest.version}/"
        )
        spec = json.loads(job["HyperParameters"]["spec"])
        assert spec["config"]["n_trials"] == 2 and spec["storage"].startswith("journal:/opt/ml/checkpoints/")
        assert (
            job["OutputDataConfig"]["S3OutputPath"]
            == f"s3://{topology.home_bucket}/experiments/{spec['study_id']}/sagemaker"
        )

        artifact = job["ModelArtifacts"]["S3ModelArtifacts"]
        bucket, key = artifact[5:].split("/", 1)
        boto("s3").put_object(Bucket=bucket, Key=key, Body=run_entry_point(job, tmp_path / "opt-ml"))
        done = capture.wait_for(lambda e: e.type in ("training.completed", "training.failed"), timeout=120)

    completed = done[0].payload_as(TrainingCompleted)
    assert completed.study_id == spec["study_id"]
    started = [e for e in capture.seen if e.type == "training.started"]
    assert started[0].payload.backend == "sagemaker"
    card = ModelCard.model_validate(get_json(topology, completed.model_card.key))
    assert card.artifact_sha256 == completed.artifact_sha256 and card.best_value == card.dev_metrics.macro_f1
    head = boto("s3").head_object(Bucket=topology.home_bucket, Key=completed.artifact.key)
    assert head["ContentLength"] == card.artifact_bytes
