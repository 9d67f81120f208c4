"""`GET /health` (the process lives) and `GET /ready` (the database and the broker answer)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from api.errors import envelope_error
from api.probes import Probe
from tasks.app import celery_app

bp = Blueprint("health", __name__)


@bp.get("/health")
def health() -> Response:
    """200 while the process lives; checks nothing else."""
    return jsonify({"status": "ok"})


def _database_ok() -> bool:
    try:
        with current_app.extensions["mailroom.engine"].connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except SQLAlchemyError:
        return False


def _broker_ok(timeout: float) -> bool:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
        return True
    except Exception:  # noqa: BLE001 - any failure to connect means "not ready"
        return False


def _down() -> tuple[str, ...]:
    """What does not answer now: "database", "broker", both or neither."""
    down = []
    if not _database_ok():
        down.append("database")
    if not _broker_ok(current_app.config["READY_TIMEOUT_SECONDS"]):
        down.append("broker")
    return tuple(down)


def init_ready_probe(app: Flask) -> None:
    """`/ready` checks the database and the broker at most once per PROBE_CACHE_SECONDS."""
    app.extensions["mailroom.ready_probe"] = Probe(_down, app.config["PROBE_CACHE_SECONDS"])


@bp.get("/ready")
def ready() -> Response | tuple[Any, int]:
    """200 when the database and the broker answer, else 503 naming which do not (an answer
    up to PROBE_CACHE_SECONDS old)."""
    down = current_app.extensions["mailroom.ready_probe"].get()
    if down:
        return envelope_error(503, f"{' and '.join(down)} unavailable")
    return jsonify({"status": "ok", "database": "ok", "broker": "ok"})
