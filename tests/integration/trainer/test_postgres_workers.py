"""Two worker processes share one study in the PostgreSQL on this machine (Optuna's distributed mode): the trials
are split between them, each slot of the budget runs once, and no parameter set is drawn twice."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
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
        # A worker whose trial starts once the budget is used records it as surplus and stops: one at most per worker.
        assert len(trials) == N_TRIALS + len(surplus) and len(surplus) <= len(workers)
        assert all(not t.params for t in surplus)  # a surplus slot never trained
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
        optuna.delete_study(study_name=name, storage=open_storage(postgres_url))


@pytest.fixture
def fresh_database(postgres_url: str) -> Iterator[str]:
    """An empty database of its own: the state of a first deployment, before any worker has created Optuna's tables."""
    import psycopg2

    server, _, _ = postgres_url.rpartition("/")
    name = f"fresh_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(f"{server}/postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{server}/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.close()


def test_workers_starting_together_on_an_empty_database_all_open_the_storage(fresh_database: str) -> None:
    # Each worker's RDBStorage creates Optuna's tables when they are missing; started together, all but one lose
    # the race for CREATE TABLE. That must not fail a worker.
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def worker() -> None:
        start.wait()
        try:
            open_storage(fresh_database).engine.dispose()
        except BaseException as exc:  # reported below, with its type
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
