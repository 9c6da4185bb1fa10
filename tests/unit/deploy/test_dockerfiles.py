"""The Dockerfiles: generated from the service table, linted by hadolint, and holding the rules the images promise."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ecs import dockerfiles
from ecs.services import ORDER, SERVICES, TORCH_CPU_INDEX

ROOT = Path(__file__).resolve().parents[3]
HADOLINT = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_every_dockerfile_is_what_the_table_renders() -> None:
    assert dockerfiles.stale() == []


def test_a_hand_edit_is_detected(tmp_path: Path) -> None:
    dockerfiles.write(tmp_path)
    target = tmp_path / SERVICES["prep"].dockerfile
    target.write_text(target.read_text().replace("USER 10001:10001", "USER root"))
    assert dockerfiles.stale(tmp_path) == [SERVICES["prep"].dockerfile]


def test_hadolint_passes_on_every_dockerfile() -> None:
    files = [SERVICES[n].dockerfile for n in ORDER] + ["localstack/Dockerfile"]
    done = subprocess.run([HADOLINT, "--no-color", *files], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_does_flag_a_bad_dockerfile(tmp_path: Path) -> None:
    # The linter is really running: an unpinned base image and `cd` in RUN are findings.
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN cd /tmp && pip install flask\n")
    done = subprocess.run([HADOLINT, "--no-color", str(bad)], capture_output=True, text=True, check=False)
    assert done.returncode != 0 and "DL3007" in done.stdout


@pytest.mark.parametrize("name", ORDER)
def test_image_rules(name: str) -> None:
    svc = SERVICES[name]
    steps = instructions((ROOT / svc.dockerfile).read_text())
    froms = [args for word, args in steps if word == "FROM"]
    assert len(froms) >= 2, "multi-stage"
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", dockerfiles.PYTHON_IMAGE), "exact slim Python 3.11 tag"
    users = [args for word, args in steps if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root"), "runs as a non-root user"
    cmd = [args for word, args in steps if word == "CMD"][-1]
    assert json.loads(cmd) == ["python", "-m", f"services.{name}"], "exec-form command of the service module"
    health = [args for word, args in steps if word == "HEALTHCHECK"]
    assert health and "/healthz" in health[0] and "urllib" in health[0] and "curl" not in health[0]
    assert json.loads(health[0].split("CMD", 1)[1])[0] == "python", "exec-form health check"
    assert ("ARG", f"EXTRAS={name}") in steps, "installs its own extra"
    copies = [args for word, args in steps if word == "COPY" and not args.startswith("--from")]
    service_dirs = [c for c in copies if c.startswith("services/") and c != "services/__init__.py services/__init__.py"]
    assert service_dirs == [f"services/{name} services/{name}"], "copies only its own service code"
    uses_cpu_index = any(TORCH_CPU_INDEX in args for word, args in steps if word == "RUN")
    assert uses_cpu_index == svc.torch, "CPU torch from the PyTorch CPU index exactly where torch is needed"
    assert ("EXPOSE", str(svc.port)) in steps


def test_torch_only_in_the_services_that_need_it() -> None:
    assert {n for n in ORDER if SERVICES[n].torch} == {"trainer", "registry", "inference"}


def test_dockerignore_keeps_the_context_small() -> None:
    rules = [r for r in (ROOT / ".dockerignore").read_text().splitlines() if r and not r.startswith("#")]
    assert rules[0] == "**", "an allow-list: everything is excluded unless named"
    allowed = {r[1:] for r in rules if r.startswith("!")}
    assert {"pyproject.toml", "requirements/constraints.txt", "shared/**"} <= allowed
    assert not any(a.startswith((".venv", ".git", ".run", "tests")) for a in allowed)
