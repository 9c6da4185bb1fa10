"""Render every service's Dockerfile from the table in `ecs.services` (one template, seven files).

`python -m ecs.dockerfiles --write` rewrites services/<name>/Dockerfile; `--check` (and the unit tests) fail when a
committed Dockerfile differs from what the table renders, so a Dockerfile is never edited by hand.

The image: a build stage creates a venv with only that service's extra (CPU-only torch first, from the PyTorch CPU
index, where the service needs torch), dependencies in their own layer so a code change rebuilds in seconds; the
runtime stage copies the venv onto the same slim base, runs as an unprivileged user, and checks /healthz with the
standard library (no curl in the image).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ecs.services import ORDER, SERVICES, TORCH_CPU_INDEX, TORCH_VERSION, ServiceDef

ROOT = Path(__file__).resolve().parent.parent
# Exact tag: Python 3.11 patch release on Debian 12 slim. Bump deliberately (and pin the digest in CI if wanted).
PYTHON_IMAGE = "python:3.11.14-slim-bookworm"
APP_UID = 10001

_TORCH = """\
# CPU-only torch from the PyTorch CPU index (the PyPI wheel pulls the CUDA stack: gigabytes never used here)
RUN pip install --index-url {index} "torch=={version}"
"""

_TEMPLATE = """\
# syntax=docker/dockerfile:1
# GENERATED from ecs/services.py by `python -m ecs.dockerfiles --write`: edit the table or the template, not this file.
# Build from the repository root: docker build -f {dockerfile} -t {name} .
ARG PYTHON_IMAGE={python_image}

FROM ${{PYTHON_IMAGE}} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
{torch}# Dependencies in their own layer: only pyproject.toml or the constraints invalidate it, not a code change.
# EXTRAS is the service's extra; compose's dev receivers add theirs (aiosmtpd) to the notifier image.
ARG EXTRAS={extra}
COPY pyproject.toml README.md ./
COPY requirements/constraints.txt requirements/constraints.txt
RUN mkdir -p shared services && touch shared/__init__.py services/__init__.py \\
 && pip install -c requirements/constraints.txt ".[${{EXTRAS}}]"
# The code: the shared backbone and this service only.
COPY shared shared
COPY services/__init__.py services/__init__.py
COPY services/{name} services/{name}
RUN pip install --no-deps --force-reinstall . && python -c "import {module}.app"

FROM ${{PYTHON_IMAGE}} AS runtime
ARG GIT_SHA=dev
ENV PATH=/opt/venv/bin:$PATH \\
    PYTHONUNBUFFERED=1 \\
    PYTHONDONTWRITEBYTECODE=1 \\
    HOST=0.0.0.0 \\
    PORT={port} \\
    MLOPS_DATA_DIR=/var/lib/mlops \\
    MLOPS_LOG_FORMAT=json \\
    GIT_SHA=${{GIT_SHA}}
RUN groupadd --system --gid {uid} app \\
 && useradd --system --uid {uid} --gid app --home-dir /var/lib/mlops --create-home --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
WORKDIR /var/lib/mlops
USER {uid}:{uid}
EXPOSE {port}
HEALTHCHECK --interval=15s --timeout=5s --start-period={start_period}s --retries=3 \\
  CMD ["python", "-c", "{probe}"]
CMD ["python", "-m", "{module}"]
"""


def probe(port: int) -> str:
    """The health probe (standard library only): GET /healthz on $PORT, non-zero exit unless it answers 2xx."""
    url = "'http://127.0.0.1:' + os.environ.get('PORT', '" + str(port) + "') + '/healthz'"
    return f"import os, urllib.request; urllib.request.urlopen({url}, timeout=4)"


def render(svc: ServiceDef) -> str:
    """The Dockerfile text of one service."""
    torch = _TORCH.format(index=TORCH_CPU_INDEX, version=TORCH_VERSION) if svc.torch else ""
    return _TEMPLATE.format(
        name=svc.name,
        module=svc.module,
        extra=svc.extra,
        port=svc.port,
        dockerfile=svc.dockerfile,
        python_image=PYTHON_IMAGE,
        torch=torch,
        uid=APP_UID,
        start_period=svc.start_period,
        probe=probe(svc.port),
    )


def stale(root: Path = ROOT) -> list[str]:
    """Dockerfiles that differ from (or are missing against) the table."""
    return [
        svc.dockerfile
        for svc in (SERVICES[n] for n in ORDER)
        if not (root / svc.dockerfile).exists() or (root / svc.dockerfile).read_text() != render(svc)
    ]


def write(root: Path = ROOT) -> list[str]:
    written = []
    for name in ORDER:
        svc = SERVICES[name]
        path = root / svc.dockerfile
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != render(svc):
            path.write_text(render(svc))
            written.append(svc.dockerfile)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ecs.dockerfiles", description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true", help="rewrite the Dockerfiles that differ")
    args = parser.parse_args(argv)
    if args.write:
        for path in write():
            sys.stdout.write(f"wrote {path}\n")
        return 0
    bad = stale()
    for path in bad:
        sys.stderr.write(f"{path} differs from ecs/services.py; run python -m ecs.dockerfiles --write\n")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
