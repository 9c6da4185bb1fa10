"""Local stand-ins for MS Teams and a mail server, for the demo and the tests (never for production).

`python -m services.notifier.devreceivers` listens on 127.0.0.1: an SMTP server (aiosmtpd, port 8025) and an HTTP
server (port 8026) that accepts Teams Workflows webhook posts on `/webhook/<anything>`. Whatever arrives is kept in
memory and listed by `GET /received` (`?channel=teams|email`), newest last; `DELETE /received` forgets it.
`POST /script {"statuses": [503, 503, 429, 400], "retry_after": 0}` makes the next webhook posts answer those
statuses in turn (then 202 again): a receiver that fails on demand, for tests and for trying the retries by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import logging
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session
from fastapi import FastAPI, Request, Response
from pydantic import BaseModel

log = logging.getLogger("devreceivers")
SMTP_PORT = 8025
HTTP_PORT = 8026


@dataclass
class Inbox:
    """What arrived, shared by the SMTP thread and the HTTP server (hence the lock)."""

    items: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # scripted answers of the next webhook posts
    retry_after: str | None = None
    posts: int = 0  # every webhook post, answered 2xx or not
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, item: dict[str, Any]) -> None:
        with self.lock:
            self.items.append({"received_at": time.time(), **item})

    def received(self, channel: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(i) for i in self.items if channel is None or i["channel"] == channel]

    def clear(self) -> None:
        with self.lock:
            self.items.clear()
            self.statuses.clear()
            self.posts = 0

    def next_status(self) -> int:
        with self.lock:
            self.posts += 1
            return self.statuses.pop(0) if self.statuses else 202


def card_summary(body: dict[str, Any]) -> dict[str, Any]:
    """Title and severity of a Workflows post carrying one of our Adaptive Cards (best effort for other cards)."""
    try:
        card = body["attachments"][0]["content"]
        header = card["body"][0]["items"]
        severity, _, event_type = header[0]["text"].partition(" · ")
        return {"title": header[1]["text"], "severity": severity.lower(), "event_type": event_type, "card": card}
    except (KeyError, IndexError, TypeError, AttributeError):
        return {"title": "(not an MLOps card)", "severity": "", "event_type": "", "card": body}


class SmtpInbox:
    """aiosmtpd handler: parse each message and keep its parts."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    async def handle_DATA(
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:  # aiosmtpd calls handle_<VERB>
        raw = envelope.original_content or envelope.content or b""
        message = email.message_from_bytes(raw if isinstance(raw, bytes) else raw.encode(), policy=email.policy.default)
        text = message.get_body(("plain",))  # type: ignore[attr-defined]
        html = message.get_body(("html",))  # type: ignore[attr-defined]
        self.inbox.add(
            {
                "channel": "email",
                "title": str(message["Subject"] or ""),
                "severity": str(message["X-MLOps-Severity"] or ""),
                "event_type": str(message["X-MLOps-Event-Type"] or ""),
                "mail_from": envelope.mail_from,
                "rcpt_tos": list(envelope.rcpt_tos),
                "message_id": str(message["Message-ID"] or ""),
                "text": text.get_content() if text else "",
                "html": html.get_content() if html else "",
                "login": bool(getattr(session, "authenticated", False)),
            }
        )
        return "250 Message accepted for delivery"


class _Script(BaseModel):
    statuses: list[int]
    retry_after: str | None = None


def http_app(inbox: Inbox) -> FastAPI:
    """The webhook receiver and the `/received` listing."""
    app = FastAPI(title="Dev receivers (Teams webhook + SMTP inbox)")

    @app.post("/webhook/{path:path}")
    async def webhook(path: str, request: Request) -> Response:
        status = inbox.next_status()
        if status >= 300:
            headers = {"Retry-After": inbox.retry_after} if inbox.retry_after and status in (429, 503) else {}
            return Response(f"scripted failure {status}: card rejected", status_code=status, headers=headers)
        inbox.add({"channel": "teams", "path": path, **card_summary(await request.json())})
        return Response(status_code=status)

    @app.get("/received")
    async def received(channel: str | None = None) -> list[dict[str, Any]]:
        return inbox.received(channel)

    @app.delete("/received", status_code=204)
    async def forget() -> None:
        inbox.clear()

    @app.post("/script")
    async def script(body: _Script) -> dict[str, Any]:
        with inbox.lock:
            inbox.statuses[:] = body.statuses
            inbox.retry_after = body.retry_after
        return {"scripted": body.statuses}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


Authenticator = Callable[[SMTP, Session, Envelope, str, Any], AuthResult]


def credentials(username: str, password: str) -> Authenticator:
    """An aiosmtpd authenticator accepting exactly one login (LOGIN and PLAIN)."""

    def check(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
        ok = data is not None and data.login == username.encode() and data.password == password.encode()
        return AuthResult(success=bool(ok), handled=False)

    return check


def smtp_server(
    inbox: Inbox,
    port: int,
    host: str = "127.0.0.1",
    *,
    starttls: ssl.SSLContext | None = None,
    implicit_tls: ssl.SSLContext | None = None,
    authenticator: Authenticator | None = None,
) -> Controller:
    """An SMTP server in its own thread (call `.start()` / `.stop()`); plain by default, TLS and login on request."""
    kwargs: dict[str, Any] = {}
    if starttls is not None:
        kwargs.update(tls_context=starttls, require_starttls=True)
    if authenticator is not None:
        # Over implicit TLS the whole session is encrypted already; otherwise AUTH only after STARTTLS.
        kwargs.update(authenticator=authenticator, auth_required=True, auth_require_tls=implicit_tls is None)
    return Controller(SmtpInbox(inbox), hostname=host, port=port, ssl_context=implicit_tls, **kwargs)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.notifier.devreceivers", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--smtp-port", type=int, default=SMTP_PORT)
    parser.add_argument("--http-port", type=int, default=HTTP_PORT)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    inbox = Inbox()
    smtp = smtp_server(inbox, args.smtp_port, args.host)
    smtp.start()
    log.info(
        "SMTP inbox on %s:%d, webhook receiver on http://%s:%d", args.host, args.smtp_port, args.host, args.http_port
    )
    try:
        config = uvicorn.Config(http_app(inbox), host=args.host, port=args.http_port, log_level="warning")
        asyncio.run(uvicorn.Server(config).serve())
    finally:
        smtp.stop()


if __name__ == "__main__":
    main()
