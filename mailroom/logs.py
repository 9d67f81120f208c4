"""JSON logs, one line per event, carrying the email id, task, provider and correlation id.

The context lives in contextvars: the API sets the correlation id per request, the worker
sets it per task from the message header the API wrote, so one id follows an email from the
request to its last task. Bodies, keys and passwords are never logged.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from mailroom.config import get_settings

CORRELATION_HEADER = "mailroom_correlation_id"
_FIELDS = ("correlation_id", "email_id", "task", "provider")
_context: ContextVar[dict[str, str]] = ContextVar("mailroom_log_context", default={})  # noqa: B039


class _ContextFilter(logging.Filter):
    """Copies the current context onto every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _context.get().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


def configure(level: str | None = None) -> None:
    """Send every log record to stderr as one JSON object per line."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    )
    handler.addFilter(_ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level or get_settings().log_level)


def current() -> dict[str, str]:
    """The context fields set now."""
    return dict(_context.get())


def bind(**fields: Any) -> None:
    """Add fields to the current context (None values are skipped)."""
    merged = {**_context.get(), **{k: str(v) for k, v in fields.items() if v is not None}}
    _context.set(merged)


def clear() -> None:
    """Forget the context (at the end of a request or task)."""
    _context.set({})


@contextmanager
def context(**fields: Any) -> Iterator[None]:
    """Fields added for the duration of a block."""
    token = _context.set({**_context.get(), **{k: str(v) for k, v in fields.items() if v}})
    try:
        yield
    finally:
        _context.reset(token)
