"""Where a study's job runs: a child process on this machine (`local`), or a SageMaker training job (`sagemaker`).

Both leave the same output folder (see `services.trainer.job`), which the service then publishes the same way.
A worker that dies without writing an outcome (killed, out of memory, the machine gone) raises `WorkerCrashed`: the
message is retried and the study resumes from its storage.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any, Protocol

from services.trainer.spec import JobSpec

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]
_PR_SET_PDEATHSIG = 1


class WorkerCrashed(RuntimeError):
    """The worker ended without an outcome; retrying resumes the study from its storage."""


class Backend(Protocol):
    name: str

    async def run(self, spec: JobSpec, data_dir: Path, out_dir: Path, data_prefix: str) -> dict[str, Any]: ...
    async def cancel(self, study_id: str) -> bool: ...


def read_outcome(out_dir: Path, what: str) -> dict[str, Any]:
    path = out_dir / "outcome.json"
    if not path.exists():
        raise WorkerCrashed(f"{what} ended without an outcome")
    outcome: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return outcome


def _prepare(spec: JobSpec, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "outcome.json").unlink(missing_ok=True)
    spec_path = out_dir.parent / "spec.json"
    spec_path.write_text(spec.to_json(), encoding="utf-8")
    return spec_path


def _die_with_parent() -> None:
    # Linux: the worker is killed when the service process dies (even by SIGKILL), so no orphan keeps training a
    # study that the redelivered message resumes elsewhere.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class LocalBackend:
    """Runs `python -m services.trainer.job` as a child process; its log lines go to the service's stderr."""

    name = "local"

    def __init__(self, grace_seconds: float) -> None:
        self.grace_seconds = grace_seconds
        self.processes: dict[str, asyncio.subprocess.Process] = {}

    async def run(self, spec: JobSpec, data_dir: Path, out_dir: Path, data_prefix: str = "") -> dict[str, Any]:
        spec_path = await asyncio.to_thread(_prepare, spec, out_dir)
        argv = ["-m", "services.trainer.job", "--spec", str(spec_path), "--data", str(data_dir), "--out", str(out_dir)]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, *argv, cwd=str(ROOT), preexec_fn=_die_with_parent, env={**os.environ}
        )
        self.processes[spec.study_id] = proc
        log.info("worker pid %d runs study %s", proc.pid, spec.study_id, extra={"worker_pid": proc.pid})
        try:
            code = await proc.wait()
        except asyncio.CancelledError:  # the service is stopping: stop the worker, the message is redelivered
            await self._stop(proc)
            raise
        finally:
            self.processes.pop(spec.study_id, None)
        if code < 0:
            raise WorkerCrashed(f"the worker was killed by signal {-code}")
        return read_outcome(out_dir, f"the worker (exit {code})")

    async def _stop(self, proc: asyncio.subprocess.Process) -> None:
        if proc.returncode is not None:
            return
        proc.terminate()  # the job stops at the next epoch end
        try:
            await asyncio.wait_for(proc.wait(), self.grace_seconds)
        except TimeoutError:
            proc.kill()
            await proc.wait()

    async def cancel(self, study_id: str) -> bool:
        proc = self.processes.get(study_id)
        if proc is None:
            return False
        await self._stop(proc)
        return True

    def pid(self, study_id: str) -> int | None:
        proc = self.processes.get(study_id)
        return proc.pid if proc else None
