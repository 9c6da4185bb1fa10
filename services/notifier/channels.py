"""The two ways out: an MS Teams Workflows webhook (Adaptive Card) and SMTP email (aiosmtplib).

A sender makes one attempt and classifies what went wrong as a `DeliveryError`: retryable (network errors, HTTP 5xx
and 429, SMTP 4yz replies and dropped connections) or not (any other HTTP 4xx, a refused login, 5yz replies). The
retry loop (`delivery.py`) decides what to do with it. Error reasons never contain the webhook URL or the password.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Protocol
from urllib.parse import urlsplit

import aiosmtplib
import httpx
from pydantic import SecretStr

from services.notifier.alerts import Alert
from services.notifier.render import Renderer, email_message
from services.notifier.settings import NotifierSettings
from shared.alerting import Channel

MAX_BODY_IN_REASON = 300


class DeliveryError(Exception):
    """One failed attempt: why, whether trying again may help, and how long the receiver asked us to wait."""

    def __init__(self, reason: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after


class Sender(Protocol):
    """One channel's way out (the port the delivery logic depends on)."""

    channel: Channel

    def target(self, recipients: Sequence[str]) -> str:
        """Where a delivery goes, safe to show (no secrets)."""
        ...

    async def send(self, alert: Alert, recipients: Sequence[str]) -> str:
        """One attempt; returns what the receiver answered, raises `DeliveryError`."""
        ...


def mask_url(url: str) -> str:
    """`https://host/…`: enough to recognise the receiver, nothing of the path or query (they carry the secret)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}/…"


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


class TeamsSender:
    """Posts the alert's Adaptive Card to a Teams Workflows webhook (it answers 202 Accepted)."""

    channel: Channel = "teams"

    def __init__(self, webhook_url: SecretStr, client: httpx.AsyncClient, renderer: Renderer) -> None:
        self._url = webhook_url
        self.client = client
        self.renderer = renderer

    def target(self, recipients: Sequence[str]) -> str:
        return mask_url(self._url.get_secret_value())

    async def send(self, alert: Alert, recipients: Sequence[str]) -> str:
        body = self.renderer.card(alert)
        try:
            response = await self.client.post(self._url.get_secret_value(), json=body)
        except httpx.TransportError as exc:  # connect/read errors and timeouts; their text names no URL
            raise DeliveryError(f"network error: {type(exc).__name__}: {exc}", retryable=True) from None
        if response.is_success:
            return f"{response.status_code} {response.reason_phrase}"
        reason = f"Teams answered {response.status_code} {response.reason_phrase}: {response.text[:MAX_BODY_IN_REASON]}"
        if response.status_code == 429 or response.status_code >= 500:
            wait = retry_after_seconds(response.headers.get("Retry-After"))
            raise DeliveryError(reason, retryable=True, retry_after=wait)
        raise DeliveryError(reason, retryable=False)


class EmailSender:
    """Sends a multipart text + HTML message over SMTP (STARTTLS, implicit TLS, or plain on a local relay)."""

    channel: Channel = "email"

    def __init__(self, settings: NotifierSettings, renderer: Renderer) -> None:
        self.settings = settings
        self.renderer = renderer
        self._tls = ssl.create_default_context(cafile=str(settings.smtp_ca_file) if settings.smtp_ca_file else None)

    def target(self, recipients: Sequence[str]) -> str:
        return ", ".join(recipients)

    async def send(self, alert: Alert, recipients: Sequence[str]) -> str:
        s = self.settings
        message = email_message(self.renderer.email(alert), alert, s.email_from, list(recipients), self.channel)
        try:
            refused, answer = await aiosmtplib.send(
                message,
                recipients=list(recipients),
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_username,
                password=s.smtp_password.get_secret_value() if s.smtp_password else None,
                use_tls=s.smtp_security == "tls",
                start_tls=s.smtp_security == "starttls",
                tls_context=None if s.smtp_security == "none" else self._tls,
                timeout=s.smtp_timeout,
            )
        except aiosmtplib.SMTPException as exc:
            raise _smtp_error(exc) from None
        except OSError as exc:  # refused connection, unreachable host, TLS handshake
            raise DeliveryError(f"SMTP network error: {type(exc).__name__}: {exc}", retryable=True) from None
        if refused:  # some recipients were refused, the others got it: report, do not resend to everybody
            return f"{answer}; refused: " + ", ".join(f"{r} ({v.code} {v.message})" for r, v in refused.items())
        return answer


def _smtp_error(exc: aiosmtplib.SMTPException) -> DeliveryError:
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return DeliveryError(f"SMTP login refused: {exc.code} {exc.message}", retryable=False)
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        detail = ", ".join(f"{r.recipient} ({r.code} {r.message})" for r in exc.recipients)
        return DeliveryError(f"SMTP refused every recipient: {detail}", retryable=all(400 <= c < 500 for c in codes))
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        # SMTP's own rule: 4yz is a transient failure, 5yz a permanent one.
        return DeliveryError(f"SMTP answered {exc.code} {exc.message}", retryable=400 <= exc.code < 500)
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return DeliveryError(f"SMTP server lacks a required feature: {exc}", retryable=False)
    # Connect errors, timeouts, dropped connections.
    return DeliveryError(f"SMTP error: {type(exc).__name__}: {exc}", retryable=True)
