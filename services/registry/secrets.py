"""Keeping tokens out of logs: a filter that scrubs every configured token from log records (second line of
defence; the code never logs a token or an Authorization header)."""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack

MASK = "***"


class TokenFilter(logging.Filter):
    def __init__(self, secrets: list[str]) -> None:
        super().__init__("registry-secrets")
        self.secrets = sorted((s for s in secrets if len(s) >= 8), key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        clean = message
        for secret in self.secrets:
            clean = clean.replace(secret, MASK)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def install_redaction(stack: AsyncExitStack, secrets: list[str]) -> TokenFilter:
    guard = TokenFilter(secrets)
    handlers = list(logging.getLogger().handlers)
    for handler in handlers:
        handler.addFilter(guard)

    def remove() -> None:
        for handler in handlers:
            handler.removeFilter(guard)

    stack.callback(remove)
    return guard
