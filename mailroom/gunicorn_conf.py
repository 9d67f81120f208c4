"""gunicorn settings for the API: `gunicorn -c python:mailroom.gunicorn_conf mailroom.wsgi:app`."""

from __future__ import annotations

import os
from typing import Any

bind = os.environ.get("API_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("API_WORKERS", "2"))
timeout = int(os.environ.get("API_TIMEOUT", "30"))
# The API answers from the database and the broker; a request never waits on a provider.
graceful_timeout = 20
accesslog = None


def child_exit(server: Any, worker: Any) -> None:
    """Let Prometheus forget a dead worker's live gauges."""
    from mailroom.metrics import process_exited

    process_exited(worker.pid)
