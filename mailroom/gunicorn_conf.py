"""gunicorn settings for the API: `gunicorn -c python:mailroom.gunicorn_conf mailroom.wsgi:app`."""

from __future__ import annotations

from typing import Any

from mailroom.config import settings_or_exit

# Before anything else reads them: a bad setting stops gunicorn with one line.
_settings = settings_or_exit()

# Imported now, in the master, not inside child_exit: gunicorn calls that hook from its SIGCHLD
# handler, so when two workers die together the second call could re-enter the first one's
# import and fail with "cannot import name ... from partially initialized module".
from mailroom.metrics import process_exited  # noqa: E402 - after the settings check

bind = _settings.api_bind
workers = _settings.api_workers
timeout = _settings.api_timeout
# The API answers from the database and the broker; a request never waits on a provider.
graceful_timeout = 20
accesslog = None


def child_exit(server: Any, worker: Any) -> None:
    """Let Prometheus forget a dead worker's live gauges."""
    process_exited(worker.pid)
