"""Prometheus metrics, in multiprocess mode so gunicorn and Celery processes add up.

Every process writes its samples under PROMETHEUS_MULTIPROC_DIR (default `var/metrics`);
`GET /metrics` aggregates the folder. The variable must be set before prometheus_client is
imported anywhere, which is why this module sets it first.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mailroom.config import get_settings

if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(get_settings().var_dir / "metrics")
METRICS_DIR = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
METRICS_DIR.mkdir(parents=True, exist_ok=True)

from prometheus_client import (  # noqa: E402 - after PROMETHEUS_MULTIPROC_DIR is set
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)

# `mode` is `live` or `test` (sent with a test-mode key): the two are never counted together.
EMAILS = Counter(
    "mailroom_emails_total", "Emails entering each status, by mode", ["status", "mode"]
)
SEND_ATTEMPTS = Counter(
    "mailroom_send_attempts_total", "Provider attempts by outcome", ["provider", "outcome"]
)
FAILOVERS = Counter(
    "mailroom_failovers_total", "Moves from a failing provider to the next", ["from", "to"]
)
SEND_SECONDS = Histogram(
    "mailroom_send_seconds",
    "Time a provider took to answer one attempt",
    ["provider"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
RENDER_SECONDS = Histogram(
    "mailroom_render_seconds",
    "Time to render an email, by where it ran",
    ["stage"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
)
# Gauges filled at scrape time by the API; "mostrecent" keeps the latest across processes.
QUEUE_DEPTH = Gauge(
    "mailroom_queue_depth", "Messages waiting in the broker queue", multiprocess_mode="mostrecent"
)
IN_FLIGHT = Gauge(
    "mailroom_emails_in_flight",
    "Emails not yet final, by status",
    ["status"],
    multiprocess_mode="mostrecent",
)
CIRCUIT_STATE = Gauge(
    "mailroom_provider_circuit_state",
    "Provider availability: 0 closed (in use), 1 open (skipped until its cool-down ends)",
    ["provider"],
    multiprocess_mode="mostrecent",
)


def mode(is_test: bool) -> str:
    """The `mode` label of an email: `test` for a test-mode key's, else `live`."""
    return "test" if is_test else "live"


def record_attempts(attempts: Iterable[Any]) -> None:
    """Count a failover walk: each attempt, its time, and each move to the next provider."""
    previous = None
    for attempt in attempts:
        SEND_ATTEMPTS.labels(attempt.provider, attempt.outcome).inc()
        SEND_SECONDS.labels(attempt.provider).observe(attempt.duration_seconds)
        if previous is not None and previous.outcome == "failed":
            FAILOVERS.labels(previous.provider, attempt.provider).inc()
        previous = attempt


def exposition() -> tuple[bytes, str]:
    """Every process's samples, aggregated, in Prometheus text format."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry), CONTENT_TYPE_LATEST


def serve(port: int, address: str = "0.0.0.0") -> None:
    """Serve this host's aggregated samples on `port` from a thread (a Celery worker's
    `GET /metrics`: workers have no web server, and each container has its own folder)."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    start_http_server(port, address, registry)


def process_exited(pid: int) -> None:
    """Drop a dead process's live gauges (called by gunicorn's child_exit hook)."""
    multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
