"""Demo, registry stage: the trained candidate is registered, reviewed and approved, goes to dev by itself, then to
staging and prod through the approval API (two people when four eyes apply), with the leaderboard and the ledger.

Reads `dataset`, `dataset_version` from `ctx.state`; leaves `model_name`, `model_version` and `registry_token` (an
admin token of the local stack, for later stages).
"""

from __future__ import annotations

from typing import Any

import httpx

from shared.cli.registry import leaderboard_table, ledger_table
from shared.demo.context import DemoContext
from shared.devstack import DEMO_TOKENS

ENVS = ("dev", "staging", "prod")


def _token(actor: str) -> str:
    return next(token for token, grant in DEMO_TOKENS.items() if grant["actor"] == actor)


def _get(ctx: DemoContext, path: str) -> Any:
    answer = ctx.http.get(ctx.url("registry", path))
    return answer.json() if answer.status_code == 200 else None


def _post(ctx: DemoContext, path: str, actor: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = ctx.http.post(ctx.url("registry", path), json=body, headers={"Authorization": f"Bearer {_token(actor)}"})
    if answer.status_code != 200:
        raise RuntimeError(f"registry refused {path}: HTTP {answer.status_code} {answer.text}")
    result: dict[str, Any] = answer.json()
    return result


def _our_version(ctx: DemoContext) -> dict[str, Any] | None:
    """The newest version trained on the demo's data set version, once the registry has decided on it."""
    found = []
    for model in (_get(ctx, "/v1/models") or {}).get("models", []):
        for v in (_get(ctx, f"/v1/models/{model['model_name']}/versions") or {}).get("versions", []):
            if v["dataset"] == ctx.state.get("dataset") and v["dataset_version"] == ctx.state.get("dataset_version"):
                found.append(v)
    newest = max(found, key=lambda v: v["created_at"], default=None)
    if newest is None or newest["status"] == "registered":  # not reviewed yet
        return None
    return _get(ctx, f"/v1/models/{newest['model_name']}/versions/{newest['version']}")


def _in_dev(ctx: DemoContext, name: str, number: int) -> bool | None:
    view = _get(ctx, f"/v1/models/{name}/versions/{number}") or {}
    if "dev" in view.get("serving", []):
        return True
    dev = (view.get("approvals") or {}).get("dev") or {}
    return False if dev.get("status") in ("pending", "rejected") else None


def _show_review(ctx: DemoContext, view: dict[str, Any]) -> None:
    report = view["evaluation"]
    m = report["metrics"]
    ctx.say(
        f"Review on the frozen test split {report['testset']} ({m['n']} rows): accuracy {m['accuracy']:.3f}, "
        f"macro F1 {m['macro_f1']:.3f}, MCC {m['mcc']:.3f}"
    )
    for column, s in report["slices"].items():
        if s.get("gap") is not None:
            ctx.say(f"  slice {column}: largest accuracy gap {s['gap']:.3f} ({s['best']} vs {s['worst']})")
    for c in report["comparisons"]:
        for t in c["testsets"]:
            b = t["bootstrap"]["macro_f1"]
            ctx.say(
                f"  vs champion v{c['champion_version']} ({', '.join(c['environments'])}) on {t['testset']}: "
                f"macro F1 {b['difference']:+.3f} [{b['low']:+.3f}, {b['high']:+.3f}], "
                f"McNemar p {t['mcnemar']['p_value']:.3f}"
            )
    for env in ENVS:
        approval = view["approvals"].get(env) or {}
        failed = [f"{g['name']}" for g in approval.get("gates", {}).get("gates", []) if not g["passed"]]
        state = approval.get("status", "-") + (" (automatic)" if approval.get("automatic") else "")
        ctx.say(f"  {env}: {state}" + (f", failed gates: {', '.join(failed)}" if failed else ""))


def _to_dev(ctx: DemoContext, name: str, number: int) -> None:
    done = ctx.wait_for("the automatic promotion to dev", lambda: _in_dev(ctx, name, number), timeout=120)
    if done:
        ctx.say(f"[green]Every dev gate passed: the registry approved v{number} and promoted it to dev itself.[/green]")
        return
    ctx.say("[yellow]Not every dev gate passed: a person approves dev (ana), a promoter promotes (carl).[/yellow]")
    path = f"/v1/models/{name}/versions/{number}"
    _post(ctx, f"{path}/approve", "ana", {"environment": "dev", "reason": "demo: reviewed the failed gates"})
    _post(ctx, f"{path}/promote", "carl", {"environment": "dev", "reason": "demo: first environment"})


def _onward(ctx: DemoContext, view: dict[str, Any]) -> None:
    name = view["model_name"]
    path = f"/v1/models/{name}/versions/{view['version']}"
    for env in ("staging", "prod"):
        approval = view["approvals"].get(env) or {}
        if approval.get("status") == "pending":
            # four eyes: the approver is never the person who triggered the training
            approver = "bob" if view["triggered_by"] == "ana" else "ana"
            decided = _post(
                ctx, f"{path}/approve", approver, {"environment": env, "reason": f"demo: reviewed for {env}"}
            )
            ctx.say(f"{env}: approved by {decided['actor']}")
        moved = _post(ctx, f"{path}/promote", "carl", {"environment": env, "reason": f"demo: release to {env}"})
        alias = _get(ctx, f"/v1/models/{name}/aliases/{env}") or {}
        note = "" if moved.get("changed", True) else " (already there)"
        bucket = alias.get("artifact", {}).get("bucket")
        ctx.say(f"{env}: promoted by carl{note}; serves v{alias.get('version')} from the {env} bucket {bucket}")


def _trainer_missing(ctx: DemoContext) -> bool:
    try:
        return ctx.http.get(ctx.url("trainer", "/healthz"), timeout=5).status_code != 200
    except httpx.HTTPError:
        return True


def run(ctx: DemoContext) -> None:
    ctx.step("Registry: review, approval and promotion dev -> staging -> prod")
    if _trainer_missing(ctx) and _our_version(ctx) is None:
        ctx.say("[yellow]The trainer is not running: no candidate to register (registry stage skipped).[/yellow]")
        return
    view = ctx.wait_for("the registry to register and review the trained model", lambda: _our_version(ctx), 900, 2)
    name, number = view["model_name"], view["version"]
    if view["status"] != "reviewed":
        raise RuntimeError(f"the registry refused {name} v{number}: {view['status']} ({view.get('status_reason')})")
    study = view["lineage"]["study_id"]
    ctx.say(f"Registered [bold]{name} v{number}[/bold] (candidate {view['candidate_id']}, study {study})")
    _show_review(ctx, view)
    _to_dev(ctx, name, number)
    _onward(ctx, _get(ctx, f"/v1/models/{name}/versions/{number}") or view)
    board = (_get(ctx, f"/v1/models/{name}/leaderboard") or {}).get("leaderboard", [])
    ctx.console.print(leaderboard_table(name, board))
    ctx.console.print(ledger_table((_get(ctx, f"/v1/models/{name}/ledger") or [])[-10:], title=f"{name}: ledger"))
    ctx.say(f"Dashboard: {ctx.url('registry', f'/ui/models/{name}')}   (`mlops models {name}`, `mlops ledger`)")
    ctx.state.update(model_name=name, model_version=number, registry_token=_token("dana"))
