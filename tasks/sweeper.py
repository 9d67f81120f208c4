"""The sweeper: re-publishes emails the pipeline should have finished with by now.

A lost publish (the API died between its commit and the broker), a worker killed while holding
a claim, or a retry whose message vanished with a broker all leave a row in a non-final state;
the sweeper finds rows whose lease ran out and publishes their chain again. Every task claims
its row, so a chain published twice does its work once.
"""

from __future__ import annotations

import logging
import uuid

from sqlalchemy import select

from store.schedule import mark_requeued, release_due_scheduled, stale_in_flight
from store.tables import EMAILS
from tasks import callbacks, runtime
from tasks.app import celery_app
from tasks.publish import PublishError, publish, publish_callbacks

log = logging.getLogger(__name__)


def sweep(limit: int = 1000) -> int:
    """Re-publish stale in-flight emails and release due scheduled ones; how many."""
    rt = runtime.get()
    with runtime.transaction() as session:
        stale = stale_in_flight(session, rt.lease, limit)
        due: list[uuid.UUID] = mark_requeued(session, stale, rt.lease)
        # Scheduled emails are released here rather than by a Celery eta: a countdown held in
        # a worker's memory is lost with the worker, a row in the database is not.
        due += release_due_scheduled(session, limit)
    with runtime.transaction() as session:
        lost_callbacks = callbacks.due_deliveries(session, rt.lease, limit)
    if lost_callbacks:
        publish_callbacks(lost_callbacks)
    if not due:
        return 0
    with rt.sessions() as session:
        correlation = {
            str(eid): cid
            for eid, cid in session.execute(
                select(EMAILS.c.id, EMAILS.c.correlation_id).where(EMAILS.c.id.in_(due))
            )
        }
        unpublished = publish(session, due, correlation=correlation)
    if unpublished:
        raise PublishError(f"{len(unpublished)} emails could not be published", unpublished)
    log.info("sweeper re-published %d emails", len(due))
    return len(due)


@celery_app.task(name="mailroom.sweep", ignore_result=True)
def sweep_task() -> int:
    """Beat entry point of the sweeper."""
    return sweep()
