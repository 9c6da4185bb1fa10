"""Dependencies of the API routes: the registry's parts, and who is calling (bearer tokens with roles)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request

from services.registry.auth import Principal
from services.registry.deps import RegistryDeps


def get_deps(request: Request) -> RegistryDeps:
    return request.app.state.deps  # type: ignore[no-any-return]


Deps = Annotated[RegistryDeps, Depends(get_deps)]
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def caller(action: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that lets through only a valid bearer token whose roles allow `action` (401 / 403)."""

    async def check(deps: Deps, authorization: Annotated[str | None, Header()] = None) -> Principal:
        if not deps.access.configured:
            raise HTTPException(
                401, "no API tokens are configured (REGISTRY_TOKENS): the registry is read-only", _CHALLENGE
            )
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise HTTPException(401, "missing bearer token (Authorization: Bearer <token>)", _CHALLENGE)
        principal = deps.access.authenticate(token.strip())
        if principal is None:
            raise HTTPException(401, "invalid token", _CHALLENGE)
        if not principal.may(action):
            raise HTTPException(403, f"{principal.actor} may not {action} (roles: {', '.join(principal.roles)})")
        return principal

    return check


Approver = Annotated[Principal, Depends(caller("approve"))]
Promoter = Annotated[Principal, Depends(caller("promote"))]
