"""Every HTTP 5xx answer leaves one JSON-ready log line with `http_status` (CloudWatch's 5xx metric filter counts
these, see ecs/observability.py); 2xx/4xx and readiness 503s do not."""

from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient

from shared.observability import install_http_metrics


def app() -> FastAPI:
    api = FastAPI()
    install_http_metrics(api, "unit")

    @api.get("/boom/{item}")
    async def boom(item: str) -> dict[str, str]:
        raise HTTPException(503 if item == "busy" else 400, "no")

    @api.get("/readyz")
    async def readyz() -> None:
        raise HTTPException(503, "starting")

    @api.get("/crash")
    async def crash() -> None:
        raise RuntimeError("bug")

    return api


def test_5xx_answers_are_logged_with_their_status(caplog: pytest.LogCaptureFixture) -> None:
    client = TestClient(app(), raise_server_exceptions=False)
    with caplog.at_level(logging.WARNING, logger="mlops.http"):
        assert client.get("/boom/busy").status_code == 503
        assert client.get("/boom/bad").status_code == 400
        assert client.get("/readyz").status_code == 503
        assert client.get("/crash").status_code == 500
    lines = [r for r in caplog.records if r.name == "mlops.http"]
    assert [(r.http_status, r.route, r.method) for r in lines] == [(503, "/boom/{item}", "GET"), (500, "/crash", "GET")]  # type: ignore[attr-defined]
