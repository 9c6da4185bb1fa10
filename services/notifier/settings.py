"""The notifier's settings (`NOTIFIER_*`), validated at start-up.

Secrets (the Teams webhook URL, the SMTP password) are `SecretStr`: they print as `**********` in any repr, log line
or API answer, and are unwrapped only at the moment of sending.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from shared.alerting import EMAIL_ADDRESS, Channel, Routing, RoutingSettings

log = logging.getLogger(__name__)
_LOCAL_HOSTS = {"localhost", "localhost.localdomain"}


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOCAL_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class NotifierSettings(RoutingSettings):
    """Channels, recipients, delivery policy. The routes themselves come from `RoutingSettings` (shared)."""

    # A validation error must not print the offending value: it may be the webhook URL or the password.
    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", extra="ignore", frozen=True, hide_input_in_errors=True)

    teams_webhook_url: SecretStr | None = Field(None, description="MS Teams Workflows webhook URL (a secret).")
    smtp_host: str | None = Field(None, description="SMTP relay; email is disabled when unset.")
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_ca_file: Path | None = Field(None, description="CA bundle for a relay with a private certificate.")
    smtp_timeout: float = Field(20.0, gt=0)
    email_from: str = "MLOps notifier <mlops-notifier@localhost>"
    email_to: Annotated[tuple[str, ...], NoDecode] = Field(
        (), description="Default recipients of routes that name none: a JSON list or comma-separated."
    )
    http_timeout: float = Field(10.0, gt=0)
    dashboard_url: str | None = Field(None, description="Registry dashboard link; default {MLOPS_REGISTRY_URL}/ui.")
    collapse_window_seconds: float = Field(300.0, ge=0, description="Identical alerts inside it become one; 0: off.")
    flush_interval_seconds: float = Field(2.0, gt=0, description="How often ended collapse windows are summarised.")
    retry_attempts: int = Field(5, ge=1, le=20, description="Attempts per delivery (first one included).")
    retry_base_delay: float = Field(1.0, ge=0, description="Backoff before the 2nd attempt; doubles each time.")
    retry_max_delay: float = Field(30.0, ge=0, description="Cap of one backoff delay.")
    retry_after_max: float = Field(120.0, ge=0, description="Longest Retry-After honoured; longer ones end the try.")
    sync_filter_policy: bool = Field(True, description="At start-up, make the subscription's filter match the routes.")

    @field_validator("email_to", mode="before")
    @classmethod
    def _list_or_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            return json.loads(text) if text.startswith("[") else [a.strip() for a in text.split(",") if a.strip()]
        return value

    @field_validator("email_to")
    @classmethod
    def _addresses(cls, addresses: tuple[str, ...]) -> tuple[str, ...]:
        bad = [a for a in addresses if not EMAIL_ADDRESS.match(a)]
        if bad:
            raise ValueError(f"not email addresses: {bad}")
        return addresses

    @field_validator("teams_webhook_url")
    @classmethod
    def _https_webhook(cls, url: SecretStr | None) -> SecretStr | None:
        if url is None:
            return None
        value = url.get_secret_value()
        host = value.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
        if not (value.startswith("https://") or (value.startswith("http://") and _is_loopback(host))):
            # Never echo the value: it is the secret.
            raise ValueError("the Teams webhook URL must be https:// (plain http only on a loopback address)")
        return url

    @model_validator(mode="after")
    def _safe_and_complete(self) -> NotifierSettings:
        if self.smtp_password is not None and self.smtp_username is None:
            raise ValueError("NOTIFIER_SMTP_PASSWORD is set without NOTIFIER_SMTP_USERNAME")
        if self.smtp_password is not None and self.smtp_security == "none" and not _is_loopback(self.smtp_host or ""):
            raise ValueError("refusing to send the SMTP password unencrypted: use smtp_security starttls or tls")
        routing = self.routing()
        if self.smtp_host and "email" in routing.channels() and not self.email_to:
            missing = [r.name for r in routing.routes if "email" in r.channels and not r.email_to]
            if missing:
                raise ValueError(f"routes {missing} send email but name no recipients and NOTIFIER_EMAIL_TO is empty")
        return self

    def configured(self) -> tuple[Channel, ...]:
        """Channels that can send: Teams with a webhook URL, email with an SMTP host."""
        out: list[Channel] = []
        if self.teams_webhook_url is not None:
            out.append("teams")
        if self.smtp_host:
            out.append("email")
        return tuple(out)

    def secrets(self) -> list[str]:
        """Secret values, for the log filter that scrubs them from anything a library might log."""
        values = [s.get_secret_value() for s in (self.teams_webhook_url, self.smtp_password) if s is not None]
        return [v for v in values if len(v) >= 4]

    def warn_unconfigured(self, routing: Routing) -> None:
        for channel in routing.channels():
            if channel not in self.configured():
                log.warning("routes send to %s but it is not configured: those alerts are not delivered", channel)
