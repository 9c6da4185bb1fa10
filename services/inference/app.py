"""The inference service: async predictions with micro-batching, hot model swap and traffic capture (port 8080)."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from fastapi import FastAPI

from services.inference.aliases import HttpAliases
from services.inference.api import router
from services.inference.batcher import Batcher, BatchSettings
from services.inference.bodylimit import BodyLimit
from services.inference.capture import CaptureBuffer, CaptureSettings
from services.inference.deps import InferenceDeps
from services.inference.handlers import handler_table
from services.inference.model import set_torch_threads
from services.inference.predictions import FeedbackWriter, RecentPredictions
from services.inference.settings import InferenceSettings
from services.inference.storage import S3Store
from services.inference.swap import ModelManager
from shared.fanout import HEARTBEAT_SECONDS, ReplicaQueue, ensure_replica_queue, sweep_stale
from shared.idempotency import MemoryIdempotencyStore
from shared.service import Runtime, ServiceParts, ServiceSpec, create_app

log = logging.getLogger(__name__)


def _executors(runtime: Runtime, settings: InferenceSettings) -> tuple[ThreadPoolExecutor, ThreadPoolExecutor]:
    # One model thread (forward passes, torch threads = the cores given) and one loader thread (downloads are async;
    # unpickling and warm-up of the next model run here, single-threaded, so serving keeps the cores).
    model = ThreadPoolExecutor(1, "model", initializer=set_torch_threads, initargs=(settings.torch_threads,))
    loader = ThreadPoolExecutor(1, "model-loader", initializer=set_torch_threads, initargs=(1,))
    runtime.stack.callback(loader.shutdown, wait=False, cancel_futures=True)
    runtime.stack.callback(model.shutdown, wait=True)
    return model, loader


async def _fanout_queue(runtime: Runtime, settings: InferenceSettings) -> ReplicaQueue | None:
    if not runtime.consumer.enabled:
        return None
    sqs, sns = await runtime.aws.sqs(), await runtime.aws.sns()
    try:
        await sweep_stale(sqs, sns, runtime.topology, "inference", runtime.account)
    except Exception as exc:  # housekeeping; never a reason not to start
        log.warning("sweeping stale fan-out queues failed: %s", exc)
    queue = await ensure_replica_queue(sqs, sns, runtime.topology, "inference", settings.replica_id, runtime.account)
    runtime.stack.push_async_callback(queue.remove)
    return queue


async def _heartbeat(queue: ReplicaQueue, runtime: Runtime) -> None:
    while True:
        await asyncio.sleep(HEARTBEAT_SECONDS)
        try:
            await queue.heartbeat()
            await sweep_stale(queue.sqs, queue.sns, runtime.topology, "inference", runtime.account)
        except Exception as exc:
            log.warning("fan-out heartbeat failed: %s", exc)


async def bootstrap(runtime: Runtime) -> ServiceParts:
    """Assemble inference: model manager (registry alias + S3), batcher, capture, fan-out queue, handler table."""
    settings = InferenceSettings()
    if not settings.access_log:
        logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # Every replica must handle every promotion: idempotency is per replica (in memory), not shared in a database.
    runtime.idempotency = MemoryIdempotencyStore()
    bucket = runtime.common.bucket_for(settings.model_env)
    store = S3Store(await runtime.aws.s3())
    client = httpx.AsyncClient(timeout=settings.registry_timeout)
    runtime.stack.push_async_callback(client.aclose)
    model_executor, loader = _executors(runtime, settings)
    manager = ModelManager(
        environment=settings.model_env,
        model_name=settings.model_name,
        aliases=HttpAliases(client, runtime.urls.of("registry"), settings.model_env),
        store=store,
        publisher=runtime.publisher,
        loader=loader,
        refused_retry_seconds=settings.refused_retry_seconds,
        work_dir=runtime.common.data_dir,
        pass_texts=settings.pass_texts,
        runner=settings.runner,
        worker_threads=settings.torch_threads,
    )
    # Runs when the stack closes, after the lifespan has cancelled the batcher, i.e. once it drained.
    runtime.stack.push_async_callback(manager.aclose)
    batch = BatchSettings(
        settings.max_batch_texts, settings.max_wait_ms / 1000, settings.max_queue_texts, settings.batching
    )
    batcher = Batcher(manager.serving, model_executor, batch)
    capture = CaptureBuffer(
        CaptureSettings(
            settings.model_env,
            bucket,
            settings.capture_sample_rate,
            settings.capture_flush_records,
            settings.capture_flush_seconds,
            settings.capture_max_buffer,
        ),
        store,
        runtime.publisher,
    )
    deps = InferenceDeps(
        settings=settings,
        manager=manager,
        batcher=batcher,
        capture=capture,
        recent=RecentPredictions(settings.recent_predictions),
        feedback=FeedbackWriter(store, bucket, settings.model_env),
        bucket=bucket,
    )
    await asyncio.to_thread(runtime.common.data_dir.mkdir, parents=True, exist_ok=True)
    queue = await _fanout_queue(runtime, settings)
    background: list[Any] = [batcher.run, capture.run, lambda: manager.poll(settings.alias_check_seconds)]
    if queue is not None:
        background.append(lambda: _heartbeat(queue, runtime))

    async def ready() -> dict[str, bool]:
        return {"model_loaded": manager.serving() is not None}

    return ServiceParts(
        deps=deps,
        handlers=handler_table(manager),
        ready=ready,
        background=background,
        queue_url=queue.queue_url if queue else None,
        not_ready_reason=lambda: manager.state.detail,
    )


SPEC = ServiceSpec(
    name="inference",
    title="inference",
    description=(
        "Classifies texts with the model the registry's alias names for this environment (MODEL_ENV), "
        "micro-batched into single forward passes. Swaps models without dropping requests on `model.promoted` / "
        "`model.rolled_back` (every replica has its own fan-out queue) and on a periodic alias check. Captures a "
        "sample of traffic to S3 `capture/` and ground-truth labels to `feedback/` for the monitor."
    ),
    bootstrap=bootstrap,
    routers=[router],
)


def build_app() -> FastAPI:
    """The app with inference's own edge: oversized bodies are refused before they are read."""
    built = create_app(SPEC)
    built.add_middleware(BodyLimit, limit=_body_limit)
    return built


def _body_limit(scope: dict[str, Any]) -> int:
    deps = getattr(scope["app"].state, "deps", None)
    if isinstance(deps, InferenceDeps):
        return deps.settings.max_body_bytes
    return int(InferenceSettings.model_fields["max_body_bytes"].default)


app = build_app()
