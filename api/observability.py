"""Request ids, request logs, and `GET /metrics`."""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Blueprint, Flask, Response, current_app, g, request
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from api.probes import Probe
from mailroom import logs, metrics
from models import IN_FLIGHT_STATUSES, Email, ProviderState, utcnow
from tasks.app import celery_app

log = logging.getLogger("mailroom.api")
bp = Blueprint("observability", __name__)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def init_request_ids(app: Flask) -> None:
    """Every request gets a correlation id (the caller's X-Request-ID when it is sane)."""

    @app.before_request
    def _start() -> None:
        given = request.headers.get("X-Request-ID", "")
        g.correlation_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        g.started = time.perf_counter()
        logs.bind(correlation_id=g.correlation_id)

    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("correlation_id", "")
        if request.path not in {"/health", "/metrics"}:
            log.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - g.get("started", 0)) * 1000, 2),
                },
            )
        return response

    @app.teardown_request
    def _clear(_exc: BaseException | None) -> None:
        logs.clear()


def _refresh_gauges() -> None:
    """Queue depth from the broker and in-flight counts from the database, at scrape time."""
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=1)
            queue = celery_app.conf.task_default_queue
            _, depth, _ = conn.default_channel.queue_declare(queue=queue, passive=True)
            metrics.QUEUE_DEPTH.set(depth)
    except Exception:  # noqa: BLE001 - a scrape must answer even when the broker does not
        log.debug("queue depth unavailable", exc_info=True)
    try:
        engine = current_app.extensions["mailroom.engine"]
        with engine.connect() as conn:
            rows = conn.execute(
                select(Email.status, func.count())
                .where(Email.status.in_(list(IN_FLIGHT_STATUSES)))
                .group_by(Email.status)
            ).all()
        counts = {str(status): n for status, n in rows}
        for status in IN_FLIGHT_STATUSES:
            metrics.IN_FLIGHT.labels(str(status)).set(counts.get(str(status), 0))
        now = utcnow()
        with engine.connect() as conn:
            states = conn.execute(select(ProviderState.name, ProviderState.opened_until)).all()
        for name, opened_until in states:
            metrics.CIRCUIT_STATE.labels(name).set(
                1 if opened_until is not None and opened_until > now else 0
            )
    except SQLAlchemyError:
        log.debug("in-flight counts unavailable", exc_info=True)


def init_gauge_probe(app: Flask) -> None:
    """`/metrics` asks the broker and the database at most once per PROBE_CACHE_SECONDS."""
    app.extensions["mailroom.gauge_probe"] = Probe(
        _refresh_gauges, app.config["PROBE_CACHE_SECONDS"]
    )


@bp.get("/metrics")
def prometheus() -> Response:
    """Prometheus text: counters and histograms of every process, and current gauges (read
    from the broker and the database up to PROBE_CACHE_SECONDS ago)."""
    current_app.extensions["mailroom.gauge_probe"].get()
    body, content_type = metrics.exposition()
    return Response(body, content_type=content_type)
