"""The Celery application, configured by the root `celeryconfig` module."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from celery import Celery, Task
from celery.signals import (
    setup_logging,
    task_postrun,
    task_prerun,
    worker_init,
    worker_process_init,
    worker_process_shutdown,
)

from mailroom import logs
from mailroom.config import get_settings

celery_app = Celery("mailroom")
celery_app.config_from_object("celeryconfig")
# Task modules register themselves on import.
celery_app.conf.imports = (
    "tasks.pipeline",
    "tasks.sweeper",
    "tasks.callbacks",
    "tasks.batch",
    "tasks.list_send",
    "tasks.list_imports",
    "tasks.retention",
)


@celery_app.on_after_configure.connect
def _ensure_broker_folders(sender: Celery, **_: Any) -> None:
    """The filesystem transport needs its folders before the first publish."""
    options = sender.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "control_folder", "processed_folder"):
        if key in options:
            Path(options[key]).mkdir(parents=True, exist_ok=True)


@worker_process_init.connect
def _reset_after_fork(**_: Any) -> None:
    """A forked pool process must not share the parent's database connections or sockets."""
    from tasks import runtime

    runtime.reset()


@worker_init.connect
def _serve_metrics(**_: Any) -> None:
    """With MAILROOM_WORKER_METRICS_PORT set, the worker's main process serves the metrics
    its pool processes write (one scrape target per worker container)."""
    port = get_settings().worker_metrics_port
    if port:
        from mailroom import metrics

        metrics.serve(port)


@worker_process_shutdown.connect
def _forget_live_gauges(pid: int | None = None, **_: Any) -> None:
    """A pool process that ends takes its live gauge values with it."""
    from mailroom import metrics

    if pid is not None:
        metrics.process_exited(pid)


@setup_logging.connect
def _json_logs(**_: Any) -> None:
    """Workers and beat log JSON lines like the API (connecting here replaces Celery's setup)."""
    logs.configure()


@task_prerun.connect
def _bind_task_context(task: Task, args: Any = None, **_: Any) -> None:
    """Log lines of a task name it, its email and the request that started the email."""
    logs.bind(
        task=task.name,
        email_id=args[0] if args else None,
        correlation_id=getattr(task.request, logs.CORRELATION_HEADER, None),
    )


@task_postrun.connect
def _clear_task_context(**_: Any) -> None:
    logs.clear()
