"""INFERENCE_RUNNER=process: the model in a worker process answers exactly as in the model thread, and a worker
that dies is replaced by the next alias check (hot swap, refusal of bad bytes and draining: test_swap, test_lifecycle).
"""

from __future__ import annotations

import os
import signal

import httpx
import pytest

from tests.integration.inference.conftest import StartInference, World, wait_serving
from tests.support.servers import wait_until

pytestmark = pytest.mark.integration
TEXTS = [
    "I was charged twice for my Pro subscription",
    "my order #123456 has not arrived yet",
    "  \uff28\uff45llo\u200b cafe\u0301  ",  # cleaned in the worker as in the thread
]


def _predict(url: str) -> list[dict[str, object]]:
    answer = httpx.post(f"{url}/v1/predict", json={"texts": TEXTS, "all_probabilities": True}, timeout=30)
    assert answer.status_code == 200, answer.text
    return [{k: v for k, v in p.items() if k != "prediction_id"} for p in answer.json()["predictions"]]


def test_a_worker_process_predicts_what_the_model_thread_predicts(
    world: World, start_inference: StartInference
) -> None:
    world.promote(world.v1, 1, publish=False)
    with start_inference(INFERENCE_RUNNER="thread") as url:
        assert wait_serving(url, 1)["runner"] == "thread"
        in_thread = _predict(url)
    with start_inference(INFERENCE_RUNNER="process") as url:
        model = wait_serving(url, 1)
        assert model["runner"] == "process" and model["worker_pid"] not in (None, os.getpid())
        in_worker = _predict(url)
    assert in_worker == in_thread


def test_a_dead_worker_is_replaced_by_the_next_alias_check(world: World, start_inference: StartInference) -> None:
    world.promote(world.v1, 1, publish=False)
    with start_inference(INFERENCE_RUNNER="process", INFERENCE_ALIAS_CHECK_SECONDS="1") as url:
        pid = wait_serving(url, 1)["worker_pid"]
        os.kill(pid, signal.SIGKILL)

        def replaced() -> dict[str, object] | None:
            model = httpx.get(f"{url}/v1/model", timeout=5).json()
            return model if model.get("worker_pid") not in (None, pid) else None

        wait_until(replaced, timeout=90, what="a new worker")
        assert len(_predict(url)) == len(TEXTS)
