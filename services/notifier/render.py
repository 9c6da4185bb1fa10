"""Rendering an `Alert` for a channel: an Adaptive Card for MS Teams, a multipart text + HTML email.

Each event type has one template (`templates/<event_type>.j2`) with three blocks: `title`, `summary` and `details`
(plain text). The layouts (`_email.txt.j2`, `_email.html.j2`, and the card built here) place those blocks around the
alert's facts and links, so the words of an alert are written once for every channel. A type without a template, or a
template that fails on an unexpected payload, falls back to `_generic.j2`: an alert is never dropped for its wording.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, TemplateNotFound, select_autoescape

from services.notifier.alerts import Alert, metrics_text

log = logging.getLogger(__name__)
TEMPLATES = Path(__file__).parent / "templates"
GENERIC = "_generic.j2"
CARD_VERSION = "1.4"  # 1.5 renders on desktop only; 1.4 renders in every Teams client
MAX_TEXT = 3000  # Workflows refuse cards over 28 KB; long free text (sample messages, details) is cut
_CARD_STYLE = {"info": "accent", "warning": "warning", "high": "attention", "critical": "attention"}
_HTML_COLOUR = {"info": "#0969da", "warning": "#9a6700", "high": "#cf222e", "critical": "#82071e"}


@dataclass(frozen=True)
class Rendered:
    title: str
    summary: str
    details: str


@dataclass(frozen=True)
class Email:
    subject: str
    text: str
    html: str


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else ""


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
        undefined=StrictUndefined,  # a template naming a field the payload lacks fails loudly (then falls back)
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["metrics"] = metrics_text
    env.filters["when"] = _when
    return env


class Renderer:
    """Renders alerts; one per process (the template environment caches compiled templates)."""

    def __init__(self, env: Environment | None = None) -> None:
        self.env = env or environment()

    def template_for(self, event_type: str) -> Template:
        try:
            return self.env.get_template(f"{event_type}.j2")
        except TemplateNotFound:
            return self.env.get_template(GENERIC)

    def blocks(self, alert: Alert) -> Rendered:
        """Title, summary and details of the alert, from its type's template (or the generic one)."""
        try:
            return self._blocks(self.template_for(alert.event_type), alert)
        except Exception:
            log.exception("template of %s failed; using the generic one", alert.event_type)
            return self._blocks(self.env.get_template(GENERIC), alert)

    def _blocks(self, template: Template, alert: Alert) -> Rendered:
        context = template.new_context({"p": alert.payload, "alert": alert})
        parts = {name: "".join(render(context)).strip() for name, render in template.blocks.items()}
        title = " ".join((parts.get("title") or alert.event_type).split())  # one line: it becomes a mail subject
        if alert.repeated:
            title = f"{title} (+{alert.repeated} more)"
        return Rendered(title, _cut(parts.get("summary", "")), _cut(parts.get("details", "")))

    def email(self, alert: Alert) -> Email:
        blocks = self.blocks(alert)
        context: dict[str, Any] = {
            "alert": alert,
            "title": blocks.title,
            "summary": blocks.summary,
            "details": blocks.details,
            "colour": _HTML_COLOUR[alert.severity],
        }
        text = self.env.get_template("_email.txt.j2").render(context)
        html = self.env.get_template("_email.html.j2").render(context)
        return Email(f"[{alert.severity.upper()}] {blocks.title}", text, html)

    def card(self, alert: Alert) -> dict[str, Any]:
        """The Workflows webhook body: a message with one Adaptive Card attachment."""
        blocks = self.blocks(alert)
        body: list[dict[str, Any]] = [
            {
                "type": "Container",
                "style": _CARD_STYLE[alert.severity],
                "bleed": True,
                "items": [
                    _text(f"{alert.severity.upper()} · {alert.event_type}", size="Small", weight="Bolder"),
                    _text(blocks.title, size="Large", weight="Bolder"),
                ],
            },
        ]
        if alert.repeated:
            since = _when(alert.window_started)
            body.append(_text(f"{alert.repeated} more identical alerts since {since} were collapsed into this one."))
        body.append(_text(blocks.summary))
        if alert.facts:
            body.append({"type": "FactSet", "facts": [{"title": f.label, "value": f.value} for f in alert.facts]})
        if blocks.details:
            body.append(_text(blocks.details, isSubtle=True, fontType="Monospace"))
        footer = (
            f"{alert.source} · {_when(alert.occurred_at)} · event {alert.event_id} · correlation {alert.correlation_id}"
        )
        body.append(_text(footer, size="Small", isSubtle=True))
        card = {
            "type": "AdaptiveCard",
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "version": CARD_VERSION,
            "msteams": {"width": "Full"},
            "body": body,
            "actions": [{"type": "Action.OpenUrl", "title": link.title, "url": link.url} for link in alert.links],
        }
        attachment = {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        return {"type": "message", "attachments": [attachment]}


def _text(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def _cut(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def email_message(rendered: Email, alert: Alert, sender: str, recipients: list[str], channel: str) -> EmailMessage:
    """A multipart/alternative message (text first, HTML preferred by clients that can show it)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = rendered.subject
    message["Date"] = format_datetime(alert.occurred_at)
    # A deterministic Message-ID: if a crash ever makes us send the same alert again, mail systems that de-duplicate
    # on Message-ID show it once.
    message["Message-ID"] = f"<{alert.event_id}.{channel}@mlops.notifier>"
    message["X-MLOps-Event-Id"] = alert.event_id
    message["X-MLOps-Event-Type"] = alert.event_type
    message["X-MLOps-Severity"] = alert.severity
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message
