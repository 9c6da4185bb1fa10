"""The real trainer app against the test emulator, with tiny studies (a pooled one-hot model, 1-2 epochs)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest

from services.trainer.app import SPEC
from shared.service import create_app
from shared.topology import Topology
from tests.conftest import boto
from tests.integration.prep.conftest import Capture, subscribe_capture
from tests.support.servers import running

StartTrainer = Callable[..., AbstractContextManager[str]]
TINY_SPACE = {
    "doc": ["pool"],
    "emb_dim": [16],
    "min_freq": {"low": 1, "high": 1},
    "batch": [32],
    "epochs": {"low": 1, "high": 2},
    "lr": {"low": 0.01, "high": 0.05, "log": True},
}
TINY_ENV = {
    "CONSUMER_WAIT_SECONDS": "1",
    "CONSUMER_VISIBILITY_TIMEOUT": "10",
    "CONSUMER_RETRY_BACKOFF_MAX": "0",
    "TRAINER_N_TRIALS": "2",
    "TRAINER_TIMEOUT_SECONDS": "300",
    "TRAINER_SEARCH_SPACE": json.dumps(TINY_SPACE),
    "TRAINER_WANDB_MODE": "disabled",
    "TRAINER_PLOTLY_JS": "cdn",
    "TRAINER_CANCEL_GRACE_SECONDS": "60",
}


@pytest.fixture
def start_trainer(topology: Topology, monkeypatch: pytest.MonkeyPatch) -> StartTrainer:
    """`with start_trainer(TRAINER_X=...) as url:` runs a fresh trainer app (lifespan, consumer and all)."""

    @contextmanager
    def start(**env: str) -> Iterator[str]:
        for name, value in {**TINY_ENV, **env}.items():
            monkeypatch.setenv(name, value)
        with running(create_app(SPEC)) as url:
            yield url

    return start


@pytest.fixture
def capture(topology: Topology) -> Capture:
    return subscribe_capture(topology)


def get_bytes(topology: Topology, key: str) -> bytes:
    return bytes(boto("s3").get_object(Bucket=topology.home_bucket, Key=key)["Body"].read())


def get_json(topology: Topology, key: str) -> Any:
    return json.loads(get_bytes(topology, key))


def keys_under(topology: Topology, prefix: str) -> list[str]:
    pages = boto("s3").get_paginator("list_objects_v2").paginate(Bucket=topology.home_bucket, Prefix=prefix)
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))
