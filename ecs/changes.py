"""Which services a range of commits touches: the CI/CD matrix of images to rebuild and deploy.

    python -m ecs.changes <base-sha> <head-sha>     # prints a JSON list, e.g. ["prep", "registry"]

A service is affected when its own folder changed, or anything every image contains or is built from: shared/,
pyproject.toml, requirements/, the service table and task definition code in ecs/, .dockerignore. A missing or
all-zero base (first push of a branch, force push) affects every service. Standard library only: the workflow runs it
before installing anything. The services are the folders with a Dockerfile (rendered from ecs/services.py, and the
tests keep the two equal).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EVERY_IMAGE = ("shared/", "requirements/", "pyproject.toml", ".dockerignore", "ecs/services.py", "ecs/taskdefs.py",
               "ecs/target.py")  # fmt: skip


def services(root: Path = ROOT) -> list[str]:
    return sorted(p.parent.name for p in (root / "services").glob("*/Dockerfile"))


def affected(paths: Iterable[str], known: list[str]) -> list[str]:
    """The services a set of changed paths touches."""
    out: set[str] = set()
    for path in paths:
        if path.startswith(EVERY_IMAGE):
            return list(known)
        parts = path.split("/")
        if len(parts) > 2 and parts[0] == "services" and parts[1] in known:
            out.add(parts[1])
    return sorted(out)


def changed_paths(base: str, head: str, root: Path = ROOT) -> list[str] | None:
    """Paths changed between two commits; None when the base is unknown (then everything counts as changed)."""
    if not base or set(base) == {"0"}:
        return None
    try:
        out = subprocess.run(  # noqa: S603
            ["git", "diff", "--name-only", f"{base}...{head}"],  # noqa: S607
            cwd=root,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    except subprocess.CalledProcessError:
        return None
    return [line for line in out.splitlines() if line]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        sys.stderr.write("usage: python -m ecs.changes <base-sha> <head-sha>\n")
        return 2
    known = services()
    paths = changed_paths(args[0], args[1])
    sys.stdout.write(json.dumps(known if paths is None else affected(paths, known)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
