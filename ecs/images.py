"""Does each image's command module import with only that service's dependencies? (`make test-images`)

For every service: a venv under .venvs/images/<service> with `pip install -c requirements/constraints.txt
.[<service>]` (the project itself uninstalled again, so only the dependencies stay), then
`python -c "import services.<name>.app"` from a directory laid out like the image: shared/, services/__init__.py and
services/<name>/ only. A service that imports another service's code, or a library its extra lacks, fails here.

A venv is reused while the interpreter, the core dependencies and the service's extra are unchanged and every package
it holds is still pinned to the same version by the constraints (.venvs/images/<service>/.key and .freeze, or under
$MLOPS_IMAGE_VENVS); a cold run builds all of them, two at a time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ecs.services import ORDER

ROOT = Path(__file__).resolve().parent.parent
# MLOPS_IMAGE_VENVS moves the cache out of the checkout (.ci/run keeps it across CI's fresh clones).
VENVS = Path(os.environ.get("MLOPS_IMAGE_VENVS") or ROOT / ".venvs" / "images")
IMPORT_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "WANDB_MODE": "disabled", "MLOPS_LOG_FORMAT": "text"}


def cache_key(service: str, python: str) -> str:
    """What the venv was built from: the interpreter, the core dependencies and this service's extra."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    spec = {"core": project["dependencies"], "extra": project["optional-dependencies"][service]}
    version = subprocess.run([python, "-V"], capture_output=True, text=True, check=True).stdout  # noqa: S603
    return hashlib.sha256(json.dumps([version, spec], sort_keys=True).encode()).hexdigest()


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


def ensure_venv(service: str, python: str) -> tuple[Path, str]:
    """The service's venv, rebuilt when it is no longer valid; returns it and 'cached' or 'built'."""
    venv = VENVS / service
    key = cache_key(service, python)
    if still_valid(venv, key):
        return venv, "cached"
    shutil.rmtree(venv, ignore_errors=True)
    pip = str(venv / "bin" / "pip")
    steps = [
        [python, "-m", "venv", str(venv)],
        [pip, "install", "-q", "-c", "requirements/constraints.txt", f".[{service}]"],
        [pip, "uninstall", "-q", "-y", "textclf-mlops"],
    ]
    for argv in steps:
        done = _run(argv, cwd=ROOT)
        if done.returncode != 0:
            raise RuntimeError(f"{service}: {' '.join(argv[:3])} failed:\n{done.stdout[-2000:]}{done.stderr[-4000:]}")
    (venv / ".freeze").write_text(_run([pip, "freeze"]).stdout)
    (venv / ".key").write_text(key)
    return venv, "built"


def image_layout(service: str, into: Path) -> None:
    """What the image copies: shared/, services/__init__.py, services/<service>/ (as symlinks, nothing else)."""
    (into / "services").mkdir()
    (into / "shared").symlink_to(ROOT / "shared")
    (into / "services" / "__init__.py").symlink_to(ROOT / "services" / "__init__.py")
    (into / "services" / service).symlink_to(ROOT / "services" / service)


def check(service: str, python: str) -> tuple[str, bool, str, float]:
    started = time.monotonic()
    try:
        venv, how = ensure_venv(service, python)
    except RuntimeError as exc:
        return service, False, str(exc), time.monotonic() - started
    with tempfile.TemporaryDirectory() as tmp:
        image_layout(service, Path(tmp))
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env.update(IMPORT_ENV, MLOPS_DATA_DIR=str(Path(tmp) / "data"))
        done = _run([str(venv / "bin/python"), "-c", f"import services.{service}.app"], cwd=tmp, env=env)
    detail = how if done.returncode == 0 else f"{how}; import failed:\n{done.stderr[-3000:]}"
    return service, done.returncode == 0, detail, time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ecs.images", description=__doc__.split("\n")[0])
    parser.add_argument("services", nargs="*", help=f"default: every service with code ({', '.join(ORDER)})")
    parser.add_argument("--python", default=shutil.which("python3.11") or sys.executable)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    names = args.services or [s for s in ORDER if (ROOT / "services" / s / "app.py").exists()]
    missing = [s for s in ORDER if s not in names and not args.services]
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(lambda s: check(s, args.python), names))
    for service, ok, detail, seconds in results:
        sys.stdout.write(f"{'ok  ' if ok else 'FAIL'} {service:<10} {seconds:6.1f}s  {detail}\n")
    for service in missing:
        sys.stdout.write(f"skip {service:<10} no services/{service}/app.py yet\n")
    failed = sum(not ok for _, ok, _, _ in results)
    sys.stdout.write(f"images: {len(results) - failed} passed, {failed} failed in {time.monotonic() - started:.0f}s\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
