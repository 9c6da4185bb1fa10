"""The trainer as a real process (`python -m services.trainer`), killed with SIGKILL (with its worker) in the middle
of a study and started again: the redelivered message resumes the study from its journal, the trials that had
finished are not run again, the interrupted one is retried, and one model is published."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import optuna
import pytest

from services.trainer.study import counted, open_storage
from shared.events import TrainingCompleted
from shared.topology import Topology
from tests.integration.prep.conftest import Capture
from tests.integration.trainer.conftest import TINY_ENV, TINY_SPACE, get_json
from tests.support.emulator import free_port
from tests.support.pipeline import prepared_dataset
from tests.support.servers import wait_until

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]
N_TRIALS = 4


@contextmanager
def trainer_process(data_dir: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    space = {**TINY_SPACE, "epochs": {"low": 4, "high": 4}}
    env = {
        **os.environ,
        **TINY_ENV,
        "PORT": str(free_port()),
        "MLOPS_DATA_DIR": str(data_dir),
        "MLOPS_LOG_FORMAT": "json",
        "CONSUMER_VISIBILITY_TIMEOUT": "5",
        "TRAINER_N_TRIALS": str(N_TRIALS),
        "TRAINER_SEARCH_SPACE": __import__("json").dumps(space),
        "TRAINER_PRUNER": "none",
    }
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.trainer"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(60)


def _study(data_dir: Path) -> optuna.Study | None:
    journals = list((data_dir / "trainer" / "studies").glob("*.journal"))
    if not journals:
        return None
    storage = open_storage(f"journal:{journals[0]}")
    try:
        return optuna.load_study(study_name=journals[0].stem, storage=storage)
    except KeyError:
        return None


def _finished(data_dir: Path) -> list[optuna.trial.FrozenTrial]:
    study = _study(data_dir)
    return counted(study.trials) if study else []


def test_a_study_killed_midway_resumes_without_rerunning_finished_trials(
    topology: Topology, capture: Capture, tmp_path: Path
) -> None:
    prepared_dataset(topology)
    data_dir, log = tmp_path / "data", tmp_path / "trainer.log"
    with trainer_process(data_dir, log) as first:
        wait_until(lambda: len(_finished(data_dir)) >= 1, timeout=240, interval=0.2, what="a finished trial")
        os.killpg(first.pid, signal.SIGKILL)  # the service and its worker, mid-study
        first.wait(10)
    before = {t.number: (t.state, t.value, t.user_attrs["worker"]) for t in _finished(data_dir)}
    assert 1 <= len(before) < N_TRIALS

    with trainer_process(data_dir, log):
        done = capture.wait_for(lambda e: e.type in ("training.completed", "training.failed"), timeout=300)
    completed = done[0].payload_as(TrainingCompleted)

    study = _study(data_dir)
    assert study is not None
    trials = study.trials
    assert {t.number: (t.state, t.value, t.user_attrs["worker"]) for t in trials if t.number in before} == before
    resumed = [t for t in counted(trials) if t.number not in before]
    assert len(before) + len(resumed) == N_TRIALS == len(counted(trials))
    assert min(t.number for t in resumed) > max(before)  # nothing finished ran again
    assert {t.user_attrs["worker"] for t in resumed}.isdisjoint({w for _, _, w in before.values()})
    interrupted = [t for t in trials if t.user_attrs.get("interrupted")]
    retried = [t for t in trials if "retry_of" in t.user_attrs]
    assert [t.user_attrs["retry_of"] for t in retried] == [t.number for t in interrupted]
    assert [e.type for e in capture.seen].count("training.completed") == 1
    assert completed.trials_completed == N_TRIALS
    table = get_json(topology, completed.experiments_prefix + "trials.json")
    assert [r["number"] for r in table if r["state"] == "INTERRUPTED"] == [t.number for t in interrupted]
