"""The GitHub workflows: valid against the workflow schema (SchemaStore's, vendored offline by check-jsonschema),
and holding the deployment's promises: tests first, OIDC only, one image per changed service tagged with the SHA."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from ecs import changes
from ecs.services import ORDER

ROOT = Path(__file__).resolve().parents[3]
WORKFLOWS = sorted((ROOT / ".github/workflows").glob("*.yml"))
CHECK = shutil.which("check-jsonschema") or str(Path(sys.executable).parent / "check-jsonschema")


def load(name: str) -> dict[Any, Any]:
    return yaml.safe_load((ROOT / ".github/workflows" / name).read_text())


def schema_check(*paths: Path) -> subprocess.CompletedProcess[str]:
    argv = [CHECK, "--builtin-schema", "vendor.github-workflows", *map(str, paths)]
    return subprocess.run(argv, capture_output=True, text=True, check=False)


def test_workflows_are_valid() -> None:
    assert {p.name for p in WORKFLOWS} == {"ci.yml", "deploy.yml"}
    done = schema_check(*WORKFLOWS)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_schema_check_rejects_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text((ROOT / ".github/workflows/deploy.yml").read_text().replace("runs-on:", "runs_on:", 1))
    assert schema_check(broken).returncode != 0


def test_pull_requests_run_make_test_with_coverage() -> None:
    ci = load("ci.yml")
    assert "pull_request" in ci[True] and "workflow_call" in ci[True]  # YAML 1.1 reads the key `on` as True
    runs = [s.get("run", "") for s in ci["jobs"]["test"]["steps"]]
    assert "bash .ci/run" in runs
    assert "coverage" in (ROOT / "Makefile").read_text().split("\ntest:")[1].split("\n\n")[0]


def test_deploy_builds_pushes_and_deploys_each_changed_service_with_oidc() -> None:
    wf = load("deploy.yml")
    assert wf[True]["push"]["branches"] == ["main"]
    job = wf["jobs"]["deploy"]
    assert set(job["needs"]) == {"tests", "changes"}, "nothing is deployed before the tests pass"
    assert job["permissions"]["id-token"] == "write"
    assert job["strategy"]["matrix"]["service"] == "${{ fromJSON(needs.changes.outputs.services) }}"
    steps = {s.get("uses", "").split("@")[0]: s for s in job["steps"]}
    creds = steps["aws-actions/configure-aws-credentials"]["with"]
    assert "role-to-assume" in creds and not {"aws-access-key-id", "aws-secret-access-key"} & set(creds)
    build = steps["docker/build-push-action"]["with"]
    assert build["tags"].endswith(":${{ github.sha }}") and build["push"] is True
    assert build["file"] == "services/${{ matrix.service }}/Dockerfile"
    assert any('python -m ecs.deploy "$SERVICE" --image "$IMAGE"' in s.get("run", "") for s in job["steps"])
    assert "secrets.AWS" not in (ROOT / ".github/workflows/deploy.yml").read_text()


def test_changed_paths_select_services() -> None:
    known = changes.services()
    assert known == sorted(ORDER)
    assert changes.affected(["services/prep/pipeline.py", "README.md"], known) == ["prep"]
    assert changes.affected(["services/prep/x.py", "services/notifier/y.py"], known) == ["notifier", "prep"]
    assert changes.affected(["shared/events.py"], known) == known
    assert changes.affected(["requirements/constraints.txt"], known) == known
    assert changes.affected(["ecs/services.py"], known) == known
    assert changes.affected(["ecs/deploy.py", "tests/unit/x.py", "services/__init__.py"], known) == []


@pytest.mark.parametrize("base", ["", "0000000000000000000000000000000000000000"])
def test_unknown_base_means_every_service(base: str) -> None:
    assert changes.changed_paths(base, "HEAD") is None


def test_changes_between_real_commits() -> None:
    done = subprocess.run(["git", "rev-parse", "HEAD~1"], cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip("a shallow clone without a parent commit")
    paths = changes.changed_paths(done.stdout.strip(), "HEAD")
    assert paths is not None and all(isinstance(p, str) and p for p in paths)
