"""Async AWS clients: one aiobotocore session per process, clients opened and closed with the service.

Endpoints come from the standard `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>` variables that botocore reads
itself, so the same code talks to the moto server, LocalStack or AWS. S3 uses path-style addressing whenever a
custom endpoint is set, because emulators on 127.0.0.1 cannot serve virtual-hosted bucket names.
"""

from __future__ import annotations

import asyncio
import os
from contextlib import AsyncExitStack
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession, get_session

_session: AioSession | None = None


def session() -> AioSession:
    """The process-wide aiobotocore session (sessions are costly; clients are cheap)."""
    global _session
    if _session is None:
        _session = get_session()
    return _session


def custom_endpoint() -> str | None:
    return os.environ.get("AWS_ENDPOINT_URL") or None


def client_config(service: str, *, max_pool: int = 32, read_timeout: int = 70) -> AioConfig:
    # read_timeout must exceed SQS long-poll waits (20 s); retries use botocore's standard mode with jitter.
    extra: dict[str, Any] = {}
    if service == "s3" and (custom_endpoint() or os.environ.get("AWS_ENDPOINT_URL_S3")):
        extra["s3"] = {"addressing_style": "path"}
    return AioConfig(
        max_pool_connections=max_pool,
        read_timeout=read_timeout,
        connect_timeout=5,
        retries={"max_attempts": 5, "mode": "standard"},
        **extra,
    )


class AwsClients:
    """The clients one service uses, entered into the service's lifespan stack."""

    def __init__(self, region: str) -> None:
        self.region = region
        self._stack = AsyncExitStack()
        self._clients: dict[str, Any] = {}
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> AwsClients:
        await self._stack.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._clients.clear()
        await self._stack.__aexit__(None, None, None)

    async def client(self, service: str) -> Any:
        """An open client for `service`, created on first use and closed with the stack."""
        async with self._lock:
            if service not in self._clients:
                creator = session().create_client(service, region_name=self.region, config=client_config(service))
                self._clients[service] = await self._stack.enter_async_context(creator)
            return self._clients[service]

    async def s3(self) -> Any:
        return await self.client("s3")

    async def sqs(self) -> Any:
        return await self.client("sqs")

    async def sns(self) -> Any:
        return await self.client("sns")
