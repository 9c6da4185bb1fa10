"""The embedded local stack: a moto server and every service as a local process (`make up` / `make down`).

No Docker, no AWS account. State lives in `.run/` (pids, logs, SQLite files); `down` stops everything it started
and leaves nothing running. The processes run in their own sessions so that `make up` can return.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from shared.settings import SERVICE_PORTS

ROOT = Path(__file__).resolve().parent.parent
START_ORDER = ("notifier", "ingest", "prep", "trainer", "registry", "inference", "monitor")
MOTO_PORT = 5000
# Local stand-ins for MS Teams and a mail server (services/notifier/devreceivers.py), started before the notifier.
DEV_RECEIVERS = ("devreceivers", "services.notifier.devreceivers", "http://127.0.0.1:8026/healthz")
LOCAL_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


@dataclass(frozen=True)
class Stack:
    run_dir: Path

    @property
    def pid_dir(self) -> Path:
        return self.run_dir / "pids"

    @property
    def log_dir(self) -> Path:
        return self.run_dir / "logs"

    def pid_file(self, name: str) -> Path:
        return self.pid_dir / f"{name}.pid"


def available_services() -> list[str]:
    """Services that exist in this checkout (a package with `__main__.py`), in start order."""
    return [s for s in START_ORDER if (ROOT / "services" / s / "__main__.py").exists()]


def stack_env(stack: Stack, endpoint: str) -> dict[str, str]:
    env = {**os.environ, **LOCAL_AWS_ENV}
    env.setdefault("AWS_ENDPOINT_URL", endpoint)
    env.setdefault("MLOPS_DATA_DIR", str(stack.run_dir / "data"))
    env.setdefault("MLOPS_LOG_FORMAT", "text")
    env.setdefault("WANDB_MODE", "offline" if not env.get("WANDB_API_KEY") else "online")
    env.setdefault("HF_HUB_OFFLINE", "1")
    # A laptop-sized default study for the stack (the service's own default is 30 trials in 20 minutes).
    env.setdefault("TRAINER_N_TRIALS", "8")
    env.setdefault("TRAINER_TIMEOUT_SECONDS", "180")
    env.setdefault("PYTHONUNBUFFERED", "1")
    return {**env, **notifier_receiver_env(env), **registry_demo_env(env)}


# Registry API tokens of the local stack only (the demo and `mlops` use them); a real deployment sets REGISTRY_TOKENS.
DEMO_TOKENS = {
    "demo-ana-approver-token": {"actor": "ana", "roles": ["approver"]},
    "demo-bob-approver-token": {"actor": "bob", "roles": ["approver"]},
    "demo-carl-promoter-token": {"actor": "carl", "roles": ["promoter"]},
    "demo-dana-admin-token-00": {"actor": "dana", "roles": ["admin"]},
}


def registry_demo_env(env: dict[str, str]) -> dict[str, str]:
    """Demo tokens for the local registry, unless the user configured their own."""
    return {} if env.get("REGISTRY_TOKENS") else {"REGISTRY_TOKENS": json.dumps(DEMO_TOKENS)}


def notifier_receiver_env(env: dict[str, str]) -> dict[str, str]:
    """Point the notifier at the local receivers, except for the channels the user configured for real."""
    out = {"NOTIFIER_EMAIL_TO": env.get("NOTIFIER_EMAIL_TO", '["mlops-team@example.com"]')}
    if not env.get("NOTIFIER_TEAMS_WEBHOOK_URL"):
        out["NOTIFIER_TEAMS_WEBHOOK_URL"] = "http://127.0.0.1:8026/webhook/devstack"
    if not env.get("NOTIFIER_SMTP_HOST"):
        out.update(NOTIFIER_SMTP_HOST="127.0.0.1", NOTIFIER_SMTP_PORT="8025", NOTIFIER_SMTP_SECURITY="none")
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _running_pid(stack: Stack, name: str) -> int | None:
    path = stack.pid_file(name)
    if not path.exists():
        return None
    pid = int(path.read_text().strip() or 0)
    return pid if pid and _alive(pid) else None


def _spawn(stack: Stack, name: str, argv: list[str], env: dict[str, str]) -> int:
    stack.log_dir.mkdir(parents=True, exist_ok=True)
    stack.pid_dir.mkdir(parents=True, exist_ok=True)
    log = open(stack.log_dir / f"{name}.log", "ab")  # noqa: SIM115  (owned by the child from here on)
    proc = subprocess.Popen(  # noqa: S603
        argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    stack.pid_file(name).write_text(str(proc.pid))
    return proc.pid


def _wait_http(url: str, timeout: float, pid: int) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return False
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    return False


def _start(stack: Stack, name: str, argv: list[str], env: dict[str, str], health: str, timeout: float) -> bool:
    pid = _running_pid(stack, name)
    if pid is None:
        pid = _spawn(stack, name, argv, env)
    ok = _wait_http(health, timeout, pid)
    state = "up" if ok else "FAILED"
    print(f"  {name:<10} {state:<7} pid {pid:<7} {health.rsplit('/', 1)[0]}   log: {stack.log_dir / (name + '.log')}")  # noqa: T201
    return ok


def _forget_service_state(stack: Stack) -> None:
    """A new moto server starts empty; the services' local state (SQLite files, studies) must start empty too,
    or the registry would point at models and the trainer at studies that no longer exist in the emulator."""
    data = stack.run_dir / "data"
    if data.exists():
        shutil.rmtree(data)
        print("  state      reset (a fresh emulator starts empty, so does .run/data)")  # noqa: T201


def up(stack: Stack, services: list[str], timeout: float) -> int:
    endpoint = os.environ.get("AWS_ENDPOINT_URL", f"http://127.0.0.1:{MOTO_PORT}")
    env = stack_env(stack, endpoint)
    print("Starting the embedded stack:")  # noqa: T201
    if endpoint == f"http://127.0.0.1:{MOTO_PORT}":
        if _running_pid(stack, "moto") is None:
            _forget_service_state(stack)
        moto = [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(MOTO_PORT)]
        if not _start(stack, "moto", moto, env, f"{endpoint}/moto-api/", 30):
            return 1
    subprocess.run([sys.executable, "-m", "shared.provision"], env=env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    print("  topology   applied (make provision)")  # noqa: T201
    if "notifier" in services:
        name, module, health = DEV_RECEIVERS
        if not _start(stack, name, [sys.executable, "-m", module], env, health, 30):
            return 1
    failed = [
        name
        for name in services
        if not _start(
            stack,
            name,
            [sys.executable, "-m", f"services.{name}"],
            env,
            f"http://127.0.0.1:{SERVICE_PORTS[name]}/healthz",
            timeout,
        )
    ]
    if failed:
        print(f"Failed to start: {', '.join(failed)}; see their logs. `make down` stops the rest.")  # noqa: T201
        return 1
    return 0


def down(stack: Stack) -> int:
    names = [p.stem for p in stack.pid_dir.glob("*.pid")] if stack.pid_dir.exists() else []
    for name in names:
        pid = _running_pid(stack, name)
        if pid is not None:
            os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + 35
    for name in names:
        pid = _running_pid(stack, name)
        while pid is not None and _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if pid is not None and _alive(pid):
            os.killpg(pid, signal.SIGKILL)
        stack.pid_file(name).unlink(missing_ok=True)
        print(f"  {name:<10} stopped")  # noqa: T201
    return 0


def status(stack: Stack) -> int:
    rows = {}
    for name in ("moto", DEV_RECEIVERS[0], *available_services()):
        pid = _running_pid(stack, name)
        rows[name] = {"pid": pid, "running": pid is not None}
    print(json.dumps(rows, indent=2))  # noqa: T201
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m shared.devstack")
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--services", default=",".join(available_services()))
    parser.add_argument("--timeout", type=float, default=120)
    parser.add_argument("--run-dir", default=str(ROOT / ".run"))
    args = parser.parse_args()
    stack = Stack(Path(args.run_dir))
    if args.command == "up":
        sys.exit(up(stack, [s for s in args.services.split(",") if s], args.timeout))
    sys.exit(down(stack) if args.command == "down" else status(stack))


if __name__ == "__main__":
    main()
