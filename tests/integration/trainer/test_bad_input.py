"""Bad input ends in a clear `training.failed` with the reason, the message is finished, and the service goes on:
a manifest naming missing files, a corpus with a class absent from dev, a request for a data set never prepared."""

from __future__ import annotations

import json

import httpx
import pytest

from shared.datasets import Manifest, manifest_key
from shared.events import Envelope, TrainingRequested
from shared.publisher import message_attributes
from shared.topology import Topology
from tests.conftest import boto
from tests.integration.prep.conftest import Capture
from tests.integration.trainer.conftest import StartTrainer, get_bytes
from tests.support.pipeline import prepared_dataset

pytestmark = pytest.mark.integration


def _put_manifest(topology: Topology, manifest: Manifest) -> None:
    body = json.dumps(manifest.model_dump(mode="json")).encode()
    boto("s3").put_object(Bucket=topology.home_bucket, Key=manifest_key(manifest.dataset, manifest.version), Body=body)


def test_bad_inputs_fail_with_reasons_and_the_service_goes_on(
    topology: Topology, start_trainer: StartTrainer, capture: Capture
) -> None:
    good = prepared_dataset(topology, dataset="good")
    bucket, s3 = topology.home_bucket, boto("s3")
    with start_trainer(TRAINER_N_TRIALS="1") as url:
        capture.wait_for(lambda e: e.type == "training.completed" and e.payload.dataset == "good", timeout=240)

        absent = {s: e.model_copy(update={"key": f"processed/missing/v1/{s}.txt"}) for s, e in good.files.items()}
        _put_manifest(topology, good.model_copy(update={"dataset": "missing", "version": "v1", "files": absent}))

        files, splits = {}, dict(good.splits)
        for split, entry in good.files.items():
            text = get_bytes(topology, entry.key).decode()
            if split == "dev":  # every billing row leaves dev
                text = "".join(line for line in text.splitlines(keepends=True) if "__label__billing" not in line)
                splits["dev"] = splits["dev"].model_copy(
                    update={"per_label": {k: v for k, v in splits["dev"].per_label.items() if k != "billing"}}
                )
            key = f"processed/nodev/v1/{split}.txt"
            s3.put_object(Bucket=bucket, Key=key, Body=text.encode())
            files[split] = entry.model_copy(update={"key": key})
        _put_manifest(
            topology, good.model_copy(update={"dataset": "nodev", "version": "v1", "files": files, "splits": splits})
        )

        request = Envelope.wrap(
            TrainingRequested(dataset="never", reason="test", requested_by="test"),
            source="test",
            correlation_id="corr-never",
        )
        topic = topology.topic_arn(boto("sts").get_caller_identity()["Account"])
        boto("sns").publish(
            TopicArn=topic, Message=request.model_dump_json(), MessageAttributes=message_attributes(request)
        )

        failed = capture.wait_for(lambda e: e.type == "training.failed", want=3, timeout=120)
        assert httpx.get(f"{url}/readyz").status_code == 200
    reasons = {e.payload.dataset: e.payload.reason for e in failed}
    assert "files that are missing: processed/missing/v1/train.txt" in reasons["missing"]
    assert "['billing'] have no dev rows" in reasons["nodev"]
    assert reasons["never"] == "data set 'never' has no prepared version"
    assert [e.correlation_id for e in failed if e.payload.dataset == "never"] == ["corr-never"]
    assert not [e for e in capture.seen if e.type == "training.started" and e.payload.dataset != "good"]
    sqs = boto("sqs")
    dlq = sqs.get_queue_url(QueueName=topology.dlq_name("trainer"))["QueueUrl"]
    assert "Messages" not in sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=0)
