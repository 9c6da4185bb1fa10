"""The registry service (port 8004, `/docs`, dashboard at `/ui`): model versions with lineage, review among models,
approval gates, promotion across environments with integrity checks, rollback and the ledger."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fastapi import Request
from fastapi.responses import JSONResponse

from services.registry import migrate, ui
from services.registry.api import actions, models
from services.registry.artifacts import S3Artifacts
from services.registry.auth import Access
from services.registry.deps import RegistryDeps
from services.registry.errors import RegistryError
from services.registry.evaluation import Evaluator
from services.registry.handlers import handler_table
from services.registry.releases import Releases
from services.registry.secrets import install_redaction
from services.registry.settings import RegistrySettings
from services.registry.store import Catalog
from services.registry.tracking import Tracker
from shared.db import create_engine
from shared.service import Runtime, ServiceParts, ServiceSpec, create_app


async def bootstrap(runtime: Runtime) -> ServiceParts:
    """Migrate the schema, then assemble stores, S3 port, evaluator (worker threads), access and tracking."""
    settings = RegistrySettings()
    install_redaction(runtime.stack, settings.secrets())
    engine = runtime.engine
    if settings.database_url:
        engine = create_engine(settings.database_url)
        runtime.stack.push_async_callback(engine.dispose)
    await migrate.upgrade(engine)
    executor = ThreadPoolExecutor(max_workers=settings.eval_workers, thread_name_prefix="registry-eval")
    runtime.stack.callback(executor.shutdown, wait=False, cancel_futures=True)
    catalog, store = Catalog(engine), S3Artifacts(await runtime.aws.s3())
    cache = Path(settings.cache_dir) if settings.cache_dir else runtime.common.data_dir / "registry"
    public = runtime.common.public_base_url if "public_base_url" in runtime.common.model_fields_set else None
    deps = RegistryDeps(
        settings=settings,
        common=runtime.common,
        catalog=catalog,
        releases=Releases(engine),
        store=store,
        evaluator=Evaluator(catalog, store, cache, executor, settings.eval_batch_size),
        publisher=runtime.publisher,
        tracker=Tracker(settings.wandb_project, settings.wandb_entity),
        access=Access.from_settings(settings),
        base_url=public or runtime.urls.of("registry"),
    )
    if not deps.access.configured:
        logging.getLogger(__name__).warning(
            "REGISTRY_TOKENS is empty: approving, promoting and rolling back are disabled"
        )

    async def ready() -> dict[str, bool]:
        return {"database": await catalog.ping()}

    return ServiceParts(deps=deps, handlers=handler_table(deps), ready=ready, background=[deps.run_flusher])


async def _registry_error(request: Request, exc: Exception) -> JSONResponse:
    status = exc.status if isinstance(exc, RegistryError) else 500
    return JSONResponse({"detail": str(exc)}, status_code=status)


SPEC = ServiceSpec(
    name="registry",
    title="MLOps model registry",
    description=(
        "Registers trained candidates (`training.completed`) with their full lineage, reviews each against the "
        "champion of every environment on the same frozen test sets (metrics, bootstrap intervals, McNemar, "
        "fairlearn slice review), decides approvals by policy or asks a person, promotes dev -> staging -> prod by "
        "copying and verifying artifacts into each environment's bucket, rolls back, and keeps an append-only "
        "ledger of every alias change. Mutating calls need a bearer token (roles approver / promoter). "
        "Dashboard: `/ui`."
    ),
    bootstrap=bootstrap,
    routers=[models.router, actions.router, ui.router],
)
app = create_app(SPEC)
app.add_exception_handler(RegistryError, _registry_error)
