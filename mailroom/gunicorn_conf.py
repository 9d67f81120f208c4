"""gunicorn settings for the API: `gunicorn -c python:mailroom.gunicorn_conf mailroom.wsgi:app`."""

from __future__ import annotations

import os
from typing import Any

# Imported now, in the master, not inside child_exit: gunicorn calls that hook from its SIGCHLD
# handler, so when two workers die together the second call could re-enter the first one's
# import and fail with "cannot import name ... from partially initialized module".
from mailroom.metrics import process_exited

bind = os.environ.get("API_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("API_WORKERS", "2"))
timeout = int(os.environ.get("API_TIMEOUT", "30"))
# The API answers from the database and the broker; a request never waits on a provider.
graceful_timeout = 20
accesslog = None


def child_exit(server: Any, worker: Any) -> None:
    """Let Prometheus forget a dead worker's live gauges."""
    process_exited(worker.pid)
