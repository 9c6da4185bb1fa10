"""The dashboard (`/ui`): server-rendered pages a person reads instead of JSON, with forms for the decisions.

Logging in exchanges a token for a signed, HttpOnly, SameSite=Strict cookie (see `auth`): the forms post with it,
and the strict SameSite rule keeps other sites from posting them. Every action goes through the same functions as
the JSON API, so the same rules hold (roles, four eyes, order, approval, integrity, compare-and-set).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.registry import decisions, promotion, views
from services.registry.api.common import Deps
from services.registry.auth import Principal
from services.registry.errors import NotFound, RegistryError
from shared.events import S3Location
from shared.settings import ENVIRONMENTS

router = APIRouter(prefix="/ui", include_in_schema=False)
COOKIE = "registry_session"
_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape(["html", "j2"])
)
_templates.filters["when"] = lambda t: datetime.fromtimestamp(t).astimezone().strftime("%Y-%m-%d %H:%M:%S") if t else ""
_templates.filters["pct"] = lambda v: "-" if v is None else f"{100 * v:.1f}%"
_templates.filters["num"] = lambda v, d=3: "-" if v is None else f"{v:.{d}f}"
_templates.filters["signed"] = lambda v: "-" if v is None else f"{v:+.3f}"


def _who(request: Request, deps: Any) -> Principal | None:
    cookie = request.cookies.get(COOKIE)
    return deps.access.from_session(cookie) if cookie else None


def _page(request: Request, deps: Any, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = _templates.get_template(template).render(
        who=_who(request, deps),
        message=request.query_params.get("msg"),
        error=request.query_params.get("err"),
        environments=ENVIRONMENTS,
        path=request.url.path,
        **context,
    )
    return HTMLResponse(html, status_code=status)


def _back(to: str, *, msg: str | None = None, err: str | None = None) -> RedirectResponse:
    sep = "&" if "?" in to else "?"
    note = f"{sep}msg={quote(msg)}" if msg else f"{sep}err={quote(err or '')}" if err else ""
    return RedirectResponse(to + note, status_code=303)


@router.get("", response_class=HTMLResponse)
async def index(request: Request, deps: Deps) -> Response:
    return _page(request, deps, "index.html.j2", models=await views.models(deps))


@router.get("/models/{name}", response_class=HTMLResponse)
async def model_page(name: str, request: Request, deps: Deps) -> Response:
    try:
        board = await views.leaderboard(deps, name)
    except NotFound as exc:
        return _page(request, deps, "missing.html.j2", 404, reason=str(exc))
    ledger = await deps.releases.ledger(name)
    aliases = {a["environment"]: a for a in await deps.releases.aliases(name)}
    timeline = {env: [e for e in ledger if e["environment"] == env][::-1] for env in ENVIRONMENTS}
    pending = [a for a in await deps.releases.approvals(name) if a["status"] == "pending"]
    return _page(
        request, deps, "model.html.j2", name=name, board=board, aliases=aliases, timeline=timeline, pending=pending
    )


@router.get("/models/{name}/versions/{version}", response_class=HTMLResponse)
async def version_page(name: str, version: int, request: Request, deps: Deps) -> Response:
    try:
        view = await views.version_view(deps, name, version)
    except NotFound as exc:
        return _page(request, deps, "missing.html.j2", 404, reason=str(exc))
    row = await deps.catalog.version(name, version)
    plots = await views.plots(deps, row) if row else []
    return _page(request, deps, "version.html.j2", name=name, v=view, plots=plots)


@router.get("/models/{name}/versions/{version}/plots/{plot:path}")
async def plot(name: str, version: int, plot: str, deps: Deps) -> Response:
    """Redirect to a short-lived presigned URL of one of the study's plots (links on the page never expire)."""
    row = await deps.catalog.version(name, version)
    if row is None or ".." in plot:
        return Response("no such plot", status_code=404)
    lineage = row["lineage"]
    location = S3Location(bucket=lineage["experiments_bucket"], key=lineage["experiments_prefix"] + plot)
    if not await deps.store.exists(location):
        return Response("no such plot", status_code=404)
    return RedirectResponse(await deps.store.presign(location, deps.settings.plot_url_seconds), status_code=307)


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, deps: Deps) -> Response:
    return _page(request, deps, "login.html.j2", next=request.query_params.get("next", "/ui"))


@router.post("/login")
async def login(
    request: Request, deps: Deps, token: Annotated[str, Form()], next: Annotated[str, Form()] = "/ui"
) -> Response:
    principal = deps.access.authenticate(token.strip())
    target = next if next.startswith("/ui") else "/ui"
    if principal is None:
        return _back(f"/ui/login?next={quote(target)}", err="invalid token")
    response = _back(target, msg=f"signed in as {principal.actor} ({', '.join(principal.roles)})")
    secure = request.url.scheme == "https"
    response.set_cookie(
        COOKIE,
        deps.access.session(principal),
        max_age=deps.access.session_seconds,
        httponly=True,
        samesite="strict",
        secure=secure,
        path="/ui",
    )
    return response


@router.post("/logout")
async def logout() -> Response:
    response = _back("/ui", msg="signed out")
    response.delete_cookie(COOKIE, path="/ui")
    return response


async def _act(request: Request, deps: Any, action: str, to: str, work: Any) -> Response:
    who = _who(request, deps)
    if who is None:
        return _back(f"/ui/login?next={quote(to)}", err="sign in first")
    if not who.may(action):
        return _back(to, err=f"{who.actor} may not {action} (roles: {', '.join(who.roles)})")
    try:
        done = await work(who)
    except RegistryError as exc:
        return _back(to, err=str(exc))
    return _back(to, msg=done)


@router.post("/models/{name}/versions/{version}/{verb}")
async def decide(
    name: str,
    version: int,
    verb: str,
    request: Request,
    deps: Deps,
    environment: Annotated[str, Form()],
    reason: Annotated[str, Form()] = "",
) -> Response:
    to = f"/ui/models/{name}/versions/{version}"
    if environment not in ENVIRONMENTS or verb not in ("approve", "reject", "promote") or len(reason.strip()) < 3:
        return _back(to, err="choose an environment and give a reason (3 characters or more)")
    why = reason.strip()

    async def work(who: Principal) -> str:
        done = f"v{version} "
        if verb == "approve":
            await decisions.approve(deps, name, version, environment, who.actor, why)
        elif verb == "reject":
            await decisions.reject(deps, name, version, environment, who.actor, why)
        else:
            await promotion.promote(deps, name, version, environment, who.actor, why)
        return (
            done
            + {"approve": "approved for", "reject": "rejected for", "promote": "promoted to"}[verb]
            + f" {environment}"
        )

    return await _act(request, deps, "promote" if verb == "promote" else "approve", to, work)


@router.post("/models/{name}/aliases/{environment}/rollback")
async def rollback(
    name: str, environment: str, request: Request, deps: Deps, reason: Annotated[str, Form()] = ""
) -> Response:
    to = f"/ui/models/{name}"
    if environment not in ENVIRONMENTS or len(reason.strip()) < 3:
        return _back(to, err="give a reason (3 characters or more)")

    async def work(who: Principal) -> str:
        entry = await promotion.rollback(deps, name, environment, who.actor, reason.strip())
        return f"{environment} rolled back from v{entry['from_version']} to v{entry['to_version']}"

    return await _act(request, deps, "promote", to, work)
