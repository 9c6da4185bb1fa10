"""Two worker processes share one study in the PostgreSQL on this machine (Optuna's distributed mode): the trials
are split between them, each slot of the budget runs once, and no parameter set is drawn twice."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import optuna
import pytest

from services.trainer.spec import JobSpec, StudyConfig, TrackingConfig
from services.trainer.study import counted, open_storage
from tests.unit.trainer.conftest import TINY, write_corpus

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]
N_TRIALS = 6


def test_two_workers_split_one_postgres_study(postgres_url: str, tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus")
    name = f"pg-{uuid.uuid4().hex[:8]}"
    spec = JobSpec(
        study_id=name,
        dataset="tickets",
        version="v1",
        storage=postgres_url,
        config=StudyConfig(space=TINY, n_trials=N_TRIALS, timeout_seconds=None, tpe_startup_trials=N_TRIALS),
        tracking=TrackingConfig(mode="disabled"),
        heartbeat_seconds=2,
    )
    (tmp_path / "spec.json").write_text(spec.to_json())
    go = tmp_path / "go"
    argv = [
        sys.executable,
        "-m",
        "services.trainer.job",
        "--spec",
        str(tmp_path / "spec.json"),
        "--data",
        str(corpus),
        "--no-retrain",
        "--wait-for",
        str(go),
    ]
    workers = [
        subprocess.Popen(
            [*argv, "--out", str(tmp_path / f"out{i}")],
            cwd=ROOT,
            env={**os.environ},
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / f"w{i}.log").open("wb"),
        )
        for i in range(2)
    ]
    time.sleep(1)
    go.touch()  # both start together
    try:
        assert [w.wait(300) for w in workers] == [0, 0], [
            (tmp_path / f"w{i}.log").read_text()[-2000:] for i in range(2)
        ]
        storage = open_storage(postgres_url)
        study = optuna.load_study(study_name=name, storage=storage)
        trials = study.trials
        ran = counted(trials)
        assert len(ran) == N_TRIALS
        assert len({t.number for t in trials}) == len(trials)
        by_worker = {
            w: [t.number for t in ran if t.user_attrs["worker"] == w] for w in {t.user_attrs["worker"] for t in ran}
        }
        assert len(by_worker) == 2 and all(by_worker.values()), by_worker
        assert len({tuple(sorted(t.params.items())) for t in ran}) == N_TRIALS  # no parameter set twice
        surplus = [t for t in trials if t.user_attrs.get("surplus")]
        assert len(trials) == N_TRIALS + len(surplus) and len(surplus) <= 1
        assert all(not t.params for t in surplus)  # a surplus slot never trained
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
        optuna.delete_study(study_name=name, storage=open_storage(postgres_url))
