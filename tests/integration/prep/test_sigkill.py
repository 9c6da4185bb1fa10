"""Prep as a real process (`python -m services.prep`), killed with SIGKILL halfway through a file and started again:
the file is prepared exactly once (one manifest, one dataset.prepared), and the dead process's scratch space goes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from shared.events import DatasetPrepared
from shared.topology import Topology
from tests.integration.prep.conftest import Capture, keys_under, put_raw
from tests.support.emulator import free_port
from tests.support.servers import wait_until
from tests.support.textdata import write_csv_of_size

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


@contextmanager
def prep_process(data_dir: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "PORT": str(free_port()),
        "MLOPS_DATA_DIR": str(data_dir),
        "MLOPS_LOG_FORMAT": "json",
        "CONSUMER_WAIT_SECONDS": "1",
        "CONSUMER_VISIBILITY_TIMEOUT": "5",
        "CONSUMER_RETRY_BACKOFF_MAX": "0",
        "PREP_PROGRESS_EVERY": "20000",
        "PREP_MIN_PER_CLASS": "2",
    }
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "services.prep"], cwd=ROOT, env=env, stdout=out, stderr=out)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(30)


def _log_lines(log: Path) -> list[dict[str, object]]:
    lines = []
    for raw in log.read_text(errors="replace").splitlines():
        try:
            lines.append(json.loads(raw))
        except ValueError:
            continue
    return lines


def _manifests(topology: Topology) -> list[str]:
    return [k for k in keys_under(topology, "processed/killed/") if k.endswith("manifest.json")]


def test_killed_halfway_then_restarted_prepares_exactly_once(
    topology: Topology, capture: Capture, tmp_path: Path
) -> None:
    source = tmp_path / "big.csv"
    rows = write_csv_of_size(source, 25 * 1024 * 1024)
    key = "raw/killed/big file.csv"
    put_raw(topology, key, source.read_bytes())
    data_dir, log = tmp_path / "data", tmp_path / "prep.log"

    with prep_process(data_dir, log) as first:
        wait_until(
            lambda: any(str(line.get("msg", "")).startswith("read 20000 rows") for line in _log_lines(log)),
            90,
            0.05,
            what="the first process halfway through the file",
        )
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    assert _manifests(topology) == []
    stale = list((data_dir / "prep-work").iterdir())
    assert stale, "the killed process left its scratch directory"

    with prep_process(data_dir, log):
        (event,) = capture.wait_for(lambda e: e.type == "dataset.prepared", timeout=180)
        capture.poll(6)  # a late duplicate would show up here
    assert len(capture.about(key, "dataset.prepared")) == 1
    assert event.payload_as(DatasetPrepared).rows_in == rows
    assert len(_manifests(topology)) == 1
    assert not any(path.exists() for path in stale)  # the restart cleaned the dead process's scratch space
