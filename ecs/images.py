"""Does each image's code install, import and start with only that service's dependencies? (`make test-images`)

No Docker engine here, so each image's build is replayed in a venv, step for step as its Dockerfile does it:
1. dependencies: `pip install -c requirements/constraints.txt .[<service>]` in .venvs/images/<service> (cached, below);
2. code: what the Dockerfile copies (pyproject.toml, README.md, shared/, services/__init__.py, services/<service>/)
   copied to a scratch directory and installed with `pip install --no-deps --force-reinstall .`, so package data
   (templates, migrations, schemas) is exactly what the image would hold;
3. from an empty working directory: `python -c "import services.<service>.app"`, then `python -m services.<service>`
   against a moto server with the topology provisioned, until GET /healthz answers 200 (then SIGTERM).
A library missing from the extra, an import of another service's code, a file missing from the package, or a start-up
that fails fails here.

A venv is reused while the interpreter, the core dependencies and the service's extra are unchanged and every package
it holds is still pinned to the same version by the constraints (.key and .freeze in the venv; the venvs live in
.venvs/images or $MLOPS_IMAGE_VENVS); a cold run builds all of them, two at a time.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ecs.services import ORDER

ROOT = Path(__file__).resolve().parent.parent
# MLOPS_IMAGE_VENVS moves the cache out of the checkout (.ci/run keeps it across CI's fresh clones).
VENVS = Path(os.environ.get("MLOPS_IMAGE_VENVS") or ROOT / ".venvs" / "images")
_DOWNLOADS = threading.Lock()
IMPORT_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "WANDB_MODE": "disabled", "MLOPS_LOG_FORMAT": "text"}


def requirements(service: str) -> list[str]:
    """What `pip install .[<service>]` asks for: the core dependencies and the service's extra."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [*project["dependencies"], *project["optional-dependencies"][service]]


def cache_key(service: str, python: str) -> str:
    """What the venv was built from: the interpreter and the service's requirements."""
    version = subprocess.run([python, "-V"], capture_output=True, text=True, check=True).stdout  # noqa: S603
    return hashlib.sha256(json.dumps([version, requirements(service)]).encode()).hexdigest()


def _pins(text: str) -> dict[str, str]:
    pins = {}
    for line in text.splitlines():
        name, sep, version = line.strip().partition("==")
        if sep and not name.startswith("#"):
            pins[name.lower().replace("_", "-")] = version.split("+")[0]
    return pins


def still_valid(venv: Path, key: str) -> bool:
    """Same spec, and every package in the venv still pinned to the same version by the constraints.

    A new dependency of another service changes pyproject.toml and the constraints, but leaves this venv valid:
    only a change of this service's requirements or of a pin it installed rebuilds it.
    """
    stamp, frozen = venv / ".key", venv / ".freeze"
    if not (stamp.exists() and frozen.exists() and (venv / "bin" / "python").exists()) or stamp.read_text() != key:
        return False
    wanted = _pins((ROOT / "requirements/constraints.txt").read_text())
    return all(wanted.get(name, version) == version for name, version in _pins(frozen.read_text()).items())


def _run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload,no-any-return]  # noqa: S603


def _wheels_only(pip: str, wheelhouse: Path) -> subprocess.CompletedProcess[str]:
    """Build the source distributions `pip download` saved into wheels, so installs need no index (nor setuptools)."""
    sdists = [str(p) for p in wheelhouse.iterdir() if p.name.endswith((".tar.gz", ".zip"))]
    if not sdists:
        return subprocess.CompletedProcess([], 0, "", "")
    done = _run([pip, "wheel", "-q", "--no-deps", "-w", str(wheelhouse), *sdists])
    if done.returncode == 0:
        for sdist in sdists:
            Path(sdist).unlink()
    return done


def ensure_venv(service: str, python: str) -> tuple[Path, str]:
    """The service's venv, rebuilt when it is no longer valid; returns it and 'cached' or 'built'."""
    venv = VENVS / service
    key = cache_key(service, python)
    if still_valid(venv, key):
        return venv, "cached"
    shutil.rmtree(venv, ignore_errors=True)
    pip, reqs = str(venv / "bin" / "pip"), requirements(service)
    constraints = ["-c", "requirements/constraints.txt"]
    # One wheelhouse for all venvs: the three torch services share most of their wheels, and pip does not always
    # keep an HTTP cache. `pip download` skips files it already holds; the install then needs no index at all.
    wheelhouse = str(VENVS / "wheelhouse")
    steps = [
        [python, "-m", "venv", str(venv)],
        [pip, "download", "-q", "-d", wheelhouse, *constraints, *reqs],
        [pip, "install", "-q", "--no-compile", "--no-index", "--find-links", wheelhouse, *constraints, *reqs],
    ]
    for argv in steps:
        with _DOWNLOADS if argv[1] == "download" else contextlib.nullcontext():  # one writer per wheelhouse
            done = _run(argv, cwd=ROOT)
            if done.returncode == 0 and argv[1] == "download":
                done = _wheels_only(pip, Path(wheelhouse))
        if done.returncode != 0:
            raise RuntimeError(f"{service}: {' '.join(argv[:3])} failed:\n{done.stdout[-2000:]}{done.stderr[-4000:]}")
    (venv / ".freeze").write_text(_run([pip, "freeze"]).stdout)
    (venv / ".key").write_text(key)
    return venv, "built"


IMAGE_FILES = ("pyproject.toml", "README.md", "requirements/constraints.txt", "shared", "services/__init__.py")


def image_source(service: str, into: Path) -> Path:
    """A copy of what the service's Dockerfile COPYs into its build stage."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in (*IMAGE_FILES, f"services/{service}"):
        source, target = ROOT / name, into / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=ignore)
        else:
            shutil.copy2(source, target)
    return into


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV") and not k.startswith("MLOPS_")}
    env.update(IMPORT_ENV, MLOPS_DATA_DIR=str(data_dir), **extra)
    return env


def start(venv: Path, service: str, cwd: Path, env: dict[str, str], timeout: float = 180) -> str | None:
    """Run the service's command until /healthz answers 200; None when it did, else what went wrong."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = cwd / f"{service}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(  # noqa: S603
            [str(venv / "bin/python"), "-m", f"services.{service}"],
            cwd=cwd,
            env={**env, "PORT": str(port), "HOST": "127.0.0.1"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    return f"exited with {proc.returncode}:\n{log.read_text()[-3000:]}"
                url = f"http://127.0.0.1:{port}/healthz"
                with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as answer:
                    if answer.status == 200:
                        return None
                time.sleep(0.5)
            return f"/healthz did not answer 200 within {timeout:.0f}s:\n{log.read_text()[-3000:]}"
        finally:
            proc.terminate()
            try:
                proc.wait(45)
            except subprocess.TimeoutExpired:
                proc.kill()


def check(service: str, python: str, aws: dict[str, str]) -> tuple[str, bool, str, float]:
    started = time.monotonic()
    try:
        venv, how = ensure_venv(service, python)
    except RuntimeError as exc:
        return service, False, str(exc), time.monotonic() - started
    with tempfile.TemporaryDirectory() as tmp:
        source, run = image_source(service, Path(tmp) / "src"), Path(tmp) / "run"
        run.mkdir()
        done = _run([str(venv / "bin/pip"), "install", "-q", "--no-deps", "--force-reinstall", str(source)])
        if done.returncode != 0:
            return service, False, f"{how}; installing the code failed:\n{done.stderr[-3000:]}", 0.0
        env = _env(Path(tmp) / "data", **aws)
        done = _run([str(venv / "bin/python"), "-c", f"import services.{service}.app"], cwd=run, env=env)
        if done.returncode != 0:
            return service, False, f"{how}; import failed:\n{done.stderr[-3000:]}", time.monotonic() - started
        failure = start(venv, service, run, env)
    detail = f"{how}, imports and answers /healthz" if failure is None else f"{how}; start-up failed: {failure}"
    return service, failure is None, detail, time.monotonic() - started


@contextlib.contextmanager
def emulator() -> Iterator[dict[str, str]]:
    """A moto server from the dev venv with the topology applied under a fresh namespace; yields the services' env."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    bin_dir = Path(sys.executable).parent
    proc = subprocess.Popen(  # noqa: S603
        [str(bin_dir / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "MLOPS_NAMESPACE": "img" + os.urandom(4).hex(),
    }
    try:
        with tempfile.TemporaryDirectory() as tmp:
            done = _run([sys.executable, "-m", "shared.provision"], cwd=ROOT, env=_env(Path(tmp), **env))
        if done.returncode != 0:
            raise RuntimeError(f"provisioning the moto server failed:\n{done.stderr[-3000:]}")
        yield env
    finally:
        proc.terminate()
        proc.wait(10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ecs.images", description=__doc__.split("\n")[0])
    parser.add_argument("services", nargs="*", help=f"default: every service with code ({', '.join(ORDER)})")
    parser.add_argument("--python", default=shutil.which("python3.11") or sys.executable)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    names = args.services or [s for s in ORDER if (ROOT / "services" / s / "app.py").exists()]
    missing = [s for s in ORDER if s not in names and not args.services]
    started = time.monotonic()
    with emulator() as aws, ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(lambda s: check(s, args.python, aws), names))
    for service, ok, detail, seconds in results:
        sys.stdout.write(f"{'ok  ' if ok else 'FAIL'} {service:<10} {seconds:6.1f}s  {detail}\n")
    for service in missing:
        sys.stdout.write(f"skip {service:<10} no services/{service}/app.py yet\n")
    failed = sum(not ok for _, ok, _, _ in results)
    sys.stdout.write(f"images: {len(results) - failed} passed, {failed} failed in {time.monotonic() - started:.0f}s\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
