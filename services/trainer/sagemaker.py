"""`TRAINER_BACKEND=sagemaker`: the whole job (study + retrain of the best trial) runs as a SageMaker training job.

The request: the trainer image (its entry point is `python -m services.trainer.sagemaker_entry`, the same job code
honouring `/opt/ml`), the role, the instance, the `training` input channel on the data set's `processed/` prefix,
the output path under `experiments/{study}/sagemaker/`, checkpoints (the study's journal, so a restarted job resumes
its trials) and the job spec as a hyperparameter. The service follows the job to its end, downloads `model.tar.gz`
and publishes its content exactly like a local run's output folder.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import tarfile
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from services.trainer.backends import WorkerCrashed, read_outcome
from services.trainer.settings import TrainerSettings
from services.trainer.spec import JobSpec

log = logging.getLogger(__name__)
OPT_ML = "/opt/ml"
CHANNEL = "training"
DONE = ("Completed", "Failed", "Stopped")


def job_name(study_id: str, attempt: int = 0) -> str:
    """At most 63 characters of [a-zA-Z0-9-], unique per study and attempt (SageMaker names are never reused)."""
    tail = hashlib.sha256(f"{study_id}#{attempt}".encode()).hexdigest()[:8]
    return f"{study_id[:50].rstrip('-')}-{attempt}-{tail}"[:63]


def container_spec(spec: JobSpec, settings: TrainerSettings) -> JobSpec:
    """The spec as the container sees it: its journal and W&B runs under /opt/ml (checkpoints are synced to S3)."""
    storage = settings.storage_url or f"journal:{OPT_ML}/checkpoints/{spec.study_id}.journal"
    tracking = spec.tracking.model_copy(update={"dir": f"{OPT_ML}/model/wandb"})
    return spec.model_copy(update={"storage": storage, "tracking": tracking})


def training_job_request(
    spec: JobSpec, settings: TrainerSettings, bucket: str, data_prefix: str, name: str
) -> dict[str, Any]:
    """The CreateTrainingJob request of one study."""
    experiments = f"s3://{bucket}/experiments/{spec.study_id}"
    return {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": settings.sagemaker_image, "TrainingInputMode": "File"},
        "RoleArn": settings.sagemaker_role_arn,
        "InputDataConfig": [
            {
                "ChannelName": CHANNEL,
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": f"s3://{bucket}/{data_prefix}",
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
                "ContentType": "text/plain",
            }
        ],
        "OutputDataConfig": {"S3OutputPath": f"{experiments}/sagemaker"},
        "CheckpointConfig": {"S3Uri": f"{experiments}/sagemaker/checkpoints", "LocalPath": f"{OPT_ML}/checkpoints"},
        "ResourceConfig": {
            "InstanceType": settings.sagemaker_instance_type,
            "InstanceCount": settings.sagemaker_instance_count,
            "VolumeSizeInGB": settings.sagemaker_volume_gb,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": settings.sagemaker_max_runtime_seconds},
        # Hyperparameter values are strings of at most 2500 characters: the spec is JSON.
        "HyperParameters": {"spec": container_spec(spec, settings).to_json()},
        "Environment": {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "WANDB_SILENT": "true"},
        "Tags": [{"Key": "study", "Value": spec.study_id[:256]}, {"Key": "dataset", "Value": spec.dataset[:256]}],
    }


def _untar(data: bytes, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        archive.extractall(out_dir, filter="data")  # "data": no absolute paths, links or devices


class SageMakerBackend:
    name = "sagemaker"

    def __init__(self, sagemaker: Any, s3: Any, settings: TrainerSettings, bucket: str) -> None:
        self.sagemaker, self.s3, self.settings, self.bucket = sagemaker, s3, settings, bucket
        self.jobs: dict[str, str] = {}

    async def _describe(self, name: str) -> dict[str, Any] | None:
        try:
            return dict(await self.sagemaker.describe_training_job(TrainingJobName=name))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("ValidationException", "ResourceNotFound"):
                return None
            raise

    async def _start(self, spec: JobSpec, bucket: str, data_prefix: str) -> str:
        """Follow the study's live or completed job (a redelivered message), else create the next attempt."""
        for attempt in range(100):
            name = job_name(spec.study_id, attempt)
            found = await self._describe(name)
            if found is None:
                request = training_job_request(spec, self.settings, bucket, data_prefix, name)
                await self.sagemaker.create_training_job(**request)
                log.info("created SageMaker training job %s", name, extra={"training_job": name})
                return name
            if found["TrainingJobStatus"] not in ("Failed", "Stopped"):
                log.info("following SageMaker training job %s (%s)", name, found["TrainingJobStatus"])
                return name
        raise RuntimeError(f"too many SageMaker attempts for {spec.study_id}")

    async def run(self, spec: JobSpec, data_dir: Path, out_dir: Path, data_prefix: str) -> dict[str, Any]:
        name = await self._start(spec, self.bucket, data_prefix)
        self.jobs[spec.study_id] = name
        try:
            job = await self._follow(name)
        finally:
            self.jobs.pop(spec.study_id, None)
        status = job["TrainingJobStatus"]
        if status == "Stopped":
            return {"status": "cancelled", "reason": f"SageMaker job {name} was stopped"}
        if status == "Failed":
            return {"status": "failed", "reason": f"SageMaker job {name} failed: {job.get('FailureReason', '?')}"}
        artifact = job.get("ModelArtifacts", {}).get("S3ModelArtifacts", "")
        await self._extract(artifact, out_dir)
        return read_outcome(out_dir, f"SageMaker job {name}")

    async def _follow(self, name: str) -> dict[str, Any]:
        while True:
            job = await self._describe(name)
            if job is None:
                raise WorkerCrashed(f"SageMaker job {name} disappeared")
            log.info("SageMaker job %s: %s / %s", name, job["TrainingJobStatus"], job.get("SecondaryStatus"))
            if job["TrainingJobStatus"] in DONE:
                return job
            await asyncio.sleep(self.settings.sagemaker_poll_seconds)

    async def _extract(self, uri: str, out_dir: Path) -> None:
        if not uri.startswith("s3://"):
            raise WorkerCrashed(f"the job names no model artifact ({uri!r})")
        bucket, key = uri[5:].split("/", 1)
        deadline = asyncio.get_running_loop().time() + self.settings.sagemaker_artifact_wait_seconds
        while True:
            try:
                got = await self.s3.get_object(Bucket=bucket, Key=key)
                break
            except ClientError as exc:
                if asyncio.get_running_loop().time() > deadline:
                    raise WorkerCrashed(f"no model artifact at {uri}: {exc}") from exc
                await asyncio.sleep(min(5.0, self.settings.sagemaker_poll_seconds))
        async with got["Body"] as body:
            data = await body.read()
        await asyncio.to_thread(_untar, data, out_dir)

    async def cancel(self, study_id: str) -> bool:
        name = self.jobs.get(study_id)
        if name is None:
            return False
        await self.sagemaker.stop_training_job(TrainingJobName=name)
        return True
