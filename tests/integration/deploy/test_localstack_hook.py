"""The LocalStack READY hook provisioned the default namespace through shared.provision (make localstack-up starts
LocalStack with LOCALSTACK_INIT_DIR=localstack/init; compose's image runs the same hook)."""

from __future__ import annotations

import os

import pytest

from shared.settings import CommonSettings
from shared.topology import Topology
from tests.conftest import boto

pytestmark = pytest.mark.integration


@pytest.mark.skipif(os.environ.get("MLOPS_TEST_AWS") != "localstack", reason="the hook runs in LocalStack only")
def test_hook_applied_the_topology(aws_endpoint: str) -> None:
    topology = Topology(CommonSettings(namespace=os.environ.get("MLOPS_HOOK_NAMESPACE", "mlops")))
    queues = set(boto("sqs").list_queues(QueueNamePrefix=f"{topology.namespace}-").get("QueueUrls", []))
    for spec in topology.static_queues():
        assert any(url.endswith("/" + topology.queue_name(spec.service)) for url in queues)
        assert any(url.endswith("/" + topology.dlq_name(spec.service)) for url in queues)
    notifications = boto("s3").get_bucket_notification_configuration(Bucket=topology.home_bucket)
    assert {c["Id"] for c in notifications["QueueConfigurations"]} == {"prep-raw", "trainer-processed"}
    topics = [t["TopicArn"] for t in boto("sns").list_topics()["Topics"]]
    assert any(t.endswith(":" + topology.topic_name) for t in topics)
