"""The HTTP API: `/v1/predict`, `/v1/feedback`, `/v1/model`, and the trivial `/v1/ping` (the HTTP floor)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import ValidationError

from services.inference.batcher import NoModel, Overloaded, ShuttingDown
from services.inference.deps import Deps, InferenceDeps
from services.inference.metrics import REJECTED, REQUEST_SECONDS
from services.inference.model import Predictor, TextResult
from services.inference.predictions import Issued
from services.inference.schemas import (
    FeedbackRequest,
    FeedbackResponse,
    PredictRequest,
    PredictResponse,
)

router = APIRouter(prefix="/v1", tags=["inference"])
JSON = "application/json"


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=JSON, headers=headers)


def _refuse(reason: str, status: int, detail: Any, retry_after: int | None = None) -> Response:
    REJECTED.labels(reason).inc()
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return _json({"detail": detail}, status, headers)


def _request_schema(model: type[Any]) -> dict[str, Any]:
    # The body is parsed by pydantic's JSON parser directly (faster than FastAPI's json.loads + validation, and it
    # reports non-UTF-8 bytes as a clear 422); this keeps `/docs` describing it all the same.
    return {"requestBody": {"required": True, "content": {JSON: {"schema": model.model_json_schema()}}}}


def _invalid(exc: ValidationError) -> Response:
    errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors(include_url=False)]
    return _refuse("invalid", 422, errors)


def _check_texts(body: PredictRequest, deps: InferenceDeps) -> Response | None:
    settings = deps.settings
    if len(body.texts) > settings.max_texts:
        return _refuse("too_many_texts", 422, f"at most {settings.max_texts} texts per request")
    for i, text in enumerate(body.texts):
        if len(text) > settings.max_text_chars:
            return _refuse("text_too_long", 422, f"texts[{i}] is longer than {settings.max_text_chars} characters")
        if not text or text.isspace():
            return _refuse("empty_text", 422, f"texts[{i}] is empty")
    return None


@router.post(
    "/predict",
    summary="Classify texts (micro-batched with other requests)",
    response_model=PredictResponse,
    openapi_extra=_request_schema(PredictRequest),
    responses={
        413: {"description": "Body too large"},
        422: {"description": "Malformed body, empty or too long texts"},
        429: {"description": "Queue full; retry after Retry-After seconds"},
        503: {"description": "No model loaded (none promoted yet) or shutting down"},
    },
)
async def predict(request: Request) -> Response:
    started = time.perf_counter()
    # The hot path reads its dependencies directly: dependency injection costs per request, and this route is
    # where the service spends its time (measured in `make bench-inference`).
    deps: InferenceDeps = request.app.state.deps
    try:
        body = PredictRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        return _invalid(exc)
    if (refused := _check_texts(body, deps)) is not None:
        return refused
    try:
        model, results = await deps.batcher.submit(body.texts)
    except Overloaded as exc:
        return _refuse("overloaded", 429, f"overloaded: {exc}", retry_after=1)
    except NoModel:
        return _refuse("no_model", 503, deps.manager.state.detail, retry_after=5)
    except ShuttingDown as exc:
        return _refuse("shutting_down", 503, str(exc), retry_after=1)
    empty = [i for i, result in enumerate(results) if result.label is None]
    if empty:
        return _refuse("empty_text", 422, f"texts{empty} contain nothing to classify after cleaning")
    answer = _answer(deps, model, results, body.all_probabilities)
    REQUEST_SECONDS.observe(time.perf_counter() - started)
    return _json(answer, headers={"X-Model-Name": model.name, "X-Model-Version": str(model.version)})


def _answer(deps: InferenceDeps, model: Predictor, results: list[TextResult], all_probs: bool) -> dict[str, Any]:
    captured = deps.capture.sampled()
    now = datetime.now(UTC) if captured else None
    records = []
    predictions = []
    for result in results:
        pid = uuid.uuid4().hex
        label = result.label or ""
        deps.recent.remember(pid, Issued(model.name, model.version, model.labels, label))
        item: dict[str, Any] = {"prediction_id": pid, "label": label, "probability": result.probability}
        if all_probs:
            item["probabilities"] = result.probabilities
        predictions.append(item)
        if captured:
            records.append(
                {
                    "prediction_id": pid,
                    "ts": now,
                    "environment": deps.manager.environment,
                    "model_name": model.name,
                    "version": model.version,
                    "text": result.text,
                    "label": label,
                    "probability": result.probability,
                    "probabilities": result.probabilities,
                }
            )
    if records:
        deps.capture.add(records)
    return {"model_name": model.name, "model_version": model.version, "predictions": predictions}


@router.post(
    "/feedback",
    summary="Record the true label of a prediction (ground truth for concept drift)",
    status_code=201,
    response_model=FeedbackResponse,
    openapi_extra=_request_schema(FeedbackRequest),
    responses={404: {"description": "Unknown (or forgotten) prediction id"}, 422: {"description": "Unknown label"}},
)
async def feedback(request: Request, deps: Deps) -> Response:
    try:
        body = FeedbackRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        return _invalid(exc)
    issued = deps.recent.get(body.prediction_id)
    if issued is None:
        return _refuse("unknown_prediction", 404, f"no recent prediction has id {body.prediction_id!r}")
    if body.label not in issued.labels:
        detail = f"label {body.label!r} is not one of the model's labels {list(issued.labels)}"
        return _refuse("unknown_label", 422, detail)
    try:
        key = await deps.feedback.store_label(body.prediction_id, body.label, issued)
    except Exception as exc:
        raise HTTPException(503, f"could not store the feedback: {exc}", headers={"Retry-After": "5"}) from exc
    answer = FeedbackResponse(
        stored=f"s3://{deps.bucket}/{key}",
        prediction_id=body.prediction_id,
        label=body.label,
        predicted=issued.label,
        model_name=issued.model_name,
        model_version=issued.version,
    )
    return _json(answer.model_dump(), 201)


@router.get("/model", summary="The model being served: version, since when, artifact, lineage")
async def model(deps: Deps) -> Response:
    current = deps.manager.serving()
    state = deps.manager.state
    status = {
        "status": state.status,
        "detail": state.detail,
        "last_check": state.last_check.isoformat() if state.last_check else None,
        "last_error": state.last_error,
        "swaps": deps.manager.swaps,
    }
    if current is None:
        return _json({"detail": state.detail, **status, "environment": deps.manager.environment}, 503)
    return _json({**current.describe(), **status})


@router.post("/ping", summary="Trivial JSON endpoint: the HTTP floor the benchmark compares predictions with")
async def ping(request: Request) -> Response:
    try:
        body = orjson.loads(await request.body() or b"{}")
    except orjson.JSONDecodeError as exc:
        return _json({"detail": f"body is not JSON: {exc}"}, 422)
    return _json({"ok": True, "fields": len(body) if isinstance(body, dict) else 0})
