"""Structured JSON logs that carry the correlation id.

The correlation id lives in a context variable, so every log line written while a message or request is being
handled carries it without being passed around; an operator can then follow one data set from upload to served
model with a single filter (`correlation_id = ...`) across all services.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

correlation_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)
event_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("event_id", default=None)

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}
_SECRET_HINTS = ("password", "secret", "token", "webhook", "authorization", "api_key")


def _redact(key: str, value: Any) -> Any:
    # Secrets must never reach a log line, whatever a caller passes in `extra`.
    return "***" if any(hint in key.lower() for hint in _SECRET_HINTS) else value


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if cid := correlation_id_var.get():
            line["correlation_id"] = cid
        if eid := event_id_var.get():
            line["event_id"] = eid
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                line[key] = _redact(key, value)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__("%(asctime)s %(levelname)-7s " + service + " %(name)s: %(message)s%(cid)s")

    def format(self, record: logging.LogRecord) -> str:
        cid = correlation_id_var.get()
        record.cid = f" [cid={cid}]" if cid else ""
        return super().format(record)


def configure_logging(service: str, level: str = "INFO", fmt: str = "json") -> None:
    """Route every logger (ours, uvicorn's, botocore's) through one handler on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service) if fmt == "json" else TextFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("botocore", "aiobotocore", "urllib3", "httpx", "httpcore", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


@contextmanager
def correlation(correlation_id: str | None, event_id: str | None = None) -> Iterator[None]:
    """Bind a correlation id (and the event being handled) to every log line in this context."""
    tokens = (correlation_id_var.set(correlation_id), event_id_var.set(event_id))
    try:
        yield
    finally:
        correlation_id_var.reset(tokens[0])
        event_id_var.reset(tokens[1])
