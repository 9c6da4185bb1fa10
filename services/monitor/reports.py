"""Where a run's reports go: `monitoring/{env}/{run}/{check}.html|.json` in the environment's bucket, plus
`summary.json` (the run record), and how people reach them (the monitor's HTTP routes serve the stored HTML)."""

from __future__ import annotations

import html
import json
from typing import Any

from services.monitor.checks import CheckResult

HTML_TYPE = "text/html; charset=utf-8"
JSON_TYPE = "application/json"


def run_prefix(environment: str, run_id: str) -> str:
    return f"monitoring/{environment}/{run_id}/"


def render(result: CheckResult) -> tuple[bytes, bytes] | None:
    """The check's Evidently report as standalone HTML and as JSON (CPU-bound: call in a worker thread)."""
    if result.snapshot is None:
        return None
    page = result.snapshot.get_html_str(as_iframe=False).encode("utf-8")
    return page, result.snapshot.json().encode("utf-8")


def run_links(base_url: str, run_id: str, checks: list[str]) -> dict[str, str]:
    base = base_url.rstrip("/")
    return {"index": f"{base}/v1/runs/{run_id}/report", **{c: f"{base}/v1/runs/{run_id}/reports/{c}" for c in checks}}


_BADGE = {"drift": "#c0392b", "no_drift": "#1e8449", "not_enough_data": "#7f8c8d", "error": "#d35400"}


def index_page(run: dict[str, Any], links: dict[str, str]) -> str:
    """A small HTML overview of a run: verdict, counts, each check with its score and a link to its report."""
    esc = html.escape
    rows = []
    for name, check in run["checks"].items():
        link = f'<a href="{esc(links[name])}">report</a>' if name in links else ""
        score = check.get("score", "")
        rows.append(
            f"<tr><td>{esc(name)}</td><td style='color:{_BADGE.get(check['status'], '#333')}'>{esc(check['status'])}"
            f"</td><td>{esc(str(score))}</td><td>{esc(str(check.get('threshold', '')))}</td>"
            f"<td>{esc(check.get('reason', ''))}</td><td>{link}</td></tr>"
        )
    verdict = run.get("verdict") or run["status"]
    counts = ", ".join(f"{k}: {v}" for k, v in run["counts"].items())
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>drift run "
        f"{esc(run['id'])}</title><style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:4px 10px;"
        "text-align:left;border-bottom:1px solid #ddd}}</style></head><body>"
        f"<h1>Drift run {esc(run['id'])}</h1><p>environment <b>{esc(run['environment'])}</b>, model "
        f"<b>{esc(str(run.get('model_name')))}</b> v{esc(str(run.get('version')))}; verdict "
        f"<b style='color:{_BADGE.get(verdict, '#333')}'>{esc(verdict)}</b>"
        f"{' (' + esc(run['level']) + ', ' + str(run['consecutive']) + ' consecutive)' if run.get('level') else ''}"
        f"</p><p>{esc(run.get('reason') or '')}</p><p>{esc(counts)}</p><table><tr><th>check</th><th>status</th>"
        f"<th>score</th><th>threshold</th><th>note</th><th></th></tr>{''.join(rows)}</table></body></html>"
    )


def summary_json(run: dict[str, Any]) -> bytes:
    return json.dumps(run, indent=1, default=str).encode("utf-8")
