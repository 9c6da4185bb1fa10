"""Keeping the webhook URL and the SMTP password out of logs and API answers.

The settings hold them as `SecretStr`, our code never formats them, and reasons are built from status codes and
response bodies. This module is the second line: a `Redactor` that scrubs any known secret value from a text, and a
logging filter installed on the loggers of the libraries that talk to the receivers (httpx logs every request URL at
INFO, which *is* the webhook secret) and on every handler of the root logger (which sees all propagated records).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from urllib.parse import quote, urlsplit

MASK = "***"
# Logger filters apply to records of that exact logger only (not its children), hence the full names.
GUARDED_LOGGERS = (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
    "aiosmtplib",
    "asyncio",
)


class Redactor:
    """Replaces every occurrence of a secret (and of its URL-encoded form and a URL's path) with `***`."""

    def __init__(self, secrets: Iterable[str]) -> None:
        variants: set[str] = set()
        for secret in secrets:
            variants.update({secret, quote(secret, safe=""), quote(secret, safe="/:")})
            parts = urlsplit(secret)
            if parts.scheme and parts.netloc and len(parts.path) > 1:
                variants.add(parts.path + (f"?{parts.query}" if parts.query else ""))
        self.secrets = sorted((v for v in variants if len(v) >= 4), key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text


class SecretFilter(logging.Filter):
    """Rewrites a record's message (and exception text) with the secrets scrubbed; never drops a record."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__("notifier-secrets")
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.redactor(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redactor(record.exc_text)
        return True


def install(redactor: Redactor) -> SecretFilter:
    """Guard the libraries' loggers at the source, and every handler of the root logger."""
    guard = SecretFilter(redactor)
    for name in GUARDED_LOGGERS:
        logging.getLogger(name).addFilter(guard)
    for handler in logging.getLogger().handlers:
        handler.addFilter(guard)
    return guard


def uninstall(guard: SecretFilter) -> None:
    for name in GUARDED_LOGGERS:
        logging.getLogger(name).removeFilter(guard)
    for handler in logging.getLogger().handlers:
        handler.removeFilter(guard)
