"""FastAPI dependencies of the ingest routes, and the translation of domain errors into HTTP answers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request

from services.ingest.fetch import ImportFailed
from services.ingest.formparts import FormError
from services.ingest.ingesting import Busy, IngestDeps, TooLarge
from services.ingest.mapping import MappingError
from services.ingest.sniff import ContentError
from services.ingest.ssrf import BadImportUrl, ImportRefused
from shared.datasets import valid_dataset_name


def _deps(request: Request) -> IngestDeps:
    deps: IngestDeps = request.app.state.deps
    return deps


def _dataset(dataset: Annotated[str, Path(description="Data set name: letters, digits, . _ - (max 64).")]) -> str:
    if not valid_dataset_name(dataset):
        raise HTTPException(
            422, f"invalid data set name {dataset!r}: 1-64 letters, digits, '.', '_' or '-', starting alphanumeric"
        )
    return dataset


Deps = Annotated[IngestDeps, Depends(_deps)]
Dataset = Annotated[str, Depends(_dataset)]

STATUS: dict[type[Exception], int] = {
    FormError: 400,
    MappingError: 422,
    ContentError: 422,
    BadImportUrl: 422,
    ImportRefused: 403,
    TooLarge: 413,
}


@contextmanager
def http_errors() -> Iterator[None]:
    """Domain refusals become 4xx (or 5xx for a failing import source) with the reason as the detail."""
    try:
        yield
    except ImportFailed as exc:
        raise HTTPException(exc.status_code, exc.detail) from exc
    except Busy as exc:
        raise HTTPException(503, str(exc), headers={"Retry-After": "5"}) from exc
    except Exception as exc:
        status = next((code for kind, code in STATUS.items() if isinstance(exc, kind)), None)
        if status is None:
            raise
        raise HTTPException(status, str(exc)) from exc
