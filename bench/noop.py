"""The baselines' side of the app: a bare endpoint and no-op tasks, registered on Mailroom's own
Flask app and Celery app so they run under exactly the same settings as what they are compared
with. Loaded only by the benchmark (gunicorn `bench.noop:wsgi_app`, worker `-A bench.noop`).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

from celery.signals import worker_ready
from flask import Flask, jsonify
from flask.typing import ResponseReturnValue

from tasks.app import celery_app

# The last task of a no-op chain appends one byte here, so the benchmark can count finished
# chains without a result backend (an O_APPEND write of one byte is atomic across processes).
DONE_FILE = os.environ.get("BENCH_NOOP_DONE_FILE", "var/bench/noop-done")
app = celery_app


@celery_app.task(name="bench.noop", ignore_result=True)
def noop(marker: str) -> None:
    """Does nothing: the cost of one task of a chain."""


@celery_app.task(name="bench.noop_done", ignore_result=True)
def noop_done(marker: str) -> None:
    """The chain's last task: mark it finished."""
    fd = os.open(DONE_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, b".")
    finally:
        os.close(fd)


@worker_ready.connect
def _announce_ready(sender: Any, **_: Any) -> None:
    """Tell the benchmark this worker consumes now, whatever its pool (a file named after the
    node's name in BENCH_READY_DIR): at WARNING level a worker prints no "ready"."""
    folder = os.environ.get("BENCH_READY_DIR")
    if folder:
        Path(folder, str(sender.hostname).split("@")[0]).touch()


def publish_noop_chains(count: int) -> None:
    """Publish `count` chains of four no-op tasks the way Mailroom publishes its own: the chain
    inside the first message, over one producer, confirmed by the broker."""
    with celery_app.producer_or_acquire() as producer:
        for n in range(count):
            marker = str(n)
            rest = [noop_done.si(marker), noop.si(marker), noop.si(marker)]
            noop.apply_async((marker,), producer=producer, chain=rest)


def _add_bare_endpoint(flask_app: Flask) -> None:
    from sqlalchemy import insert

    from api.db import db
    from models import Email, EmailStatus

    @flask_app.post("/bench/bare")
    def bare() -> ResponseReturnValue:
        """One INSERT and one publish: the least an accepting endpoint can do."""
        session = db()
        email_id = uuid.uuid4()
        # Final status: nothing in Mailroom will ever pick this row up.
        session.execute(
            insert(Email).values(
                id=email_id,
                status=EmailStatus.SENT,
                from_addr="bench@example.com",
                to_addrs=["a@example.com", "b@example.com", "c@example.com"],
                cc_addrs=[],
                bcc_addrs=[],
                subject="bare",
                html="<p>bare</p>",
                variables={},
                attachment_keys=[],
                headers={},
                message_id=f"<{email_id}@example.com>",
            )
        )
        session.commit()
        noop.apply_async((str(email_id),))
        body: dict[str, Any] = {"success": True, "data": {"id": str(email_id)}}
        return jsonify(body), 202


def _wsgi_app() -> Flask:
    from api import create_app
    from mailroom import logs

    logs.configure()
    flask_app = create_app()
    _add_bare_endpoint(flask_app)
    return flask_app


def __getattr__(name: str) -> Any:
    # gunicorn asks for `wsgi_app`; the worker and the harness never build the Flask app.
    if name == "wsgi_app":
        return _wsgi_app()
    raise AttributeError(name)
