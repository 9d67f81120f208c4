"""Publishing emails to the workers: the chain, spelled once, and batch tasks for bulk.

Every caller (the API, the CLI, list sends, batches handing an email over, the sweeper)
publishes through `publish`; after a broker failure the unconfirmed emails are made due for the
sweeper's next run, which publishes them once the broker is back, so a stored email is never
stranded.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from kombu.exceptions import KombuError
from sqlalchemy import event
from sqlalchemy.orm import Session

from mailroom import logs
from mailroom.config import get_settings
from store.outbox import PENDING_KEY
from store.schedule import forget_publish
from tasks.app import celery_app
from tasks.time_limits import CHUNK as CHUNK
from tasks.time_limits import GROUP as GROUP

log = logging.getLogger(__name__)
# An email's steps, in order; each task takes the email id only.
CHAIN = ("mailroom.render", "mailroom.fetch_attachments", "mailroom.send", "mailroom.record_status")
SEND_STEP = CHAIN.index("mailroom.send")
# Emails per batch task message (CHUNK, prepared together) and per group (GROUP, sent and
# recorded together): defined beside the time limits they size.
_QUEUE = get_settings().queue_name
# The bulk sending lane, for a bulk email's own retries (see celeryconfig.LANES).
BULK_SEND = f"{_QUEUE}.bulk.send"


class PublishError(Exception):
    """The broker did not take the messages; the emails stay in the database for the sweeper.

    `unpublished` are the emails whose messages the broker may not have: the one being
    published when it failed and those after it. Those before it were confirmed.
    """

    def __init__(self, message: str, unpublished: Iterable[uuid.UUID | str]) -> None:
        super().__init__(message)
        self.unpublished = [uuid.UUID(str(eid)) for eid in unpublished]


def publish(
    session: Session,
    email_ids: Iterable[uuid.UUID],
    *,
    bulk: bool = False,
    groups: bool = False,
    correlation: Mapping[str, str | None] | None = None,
    eta: datetime | None = None,
) -> list[uuid.UUID]:
    """Publish the (committed) emails: a chain each, batch tasks when `bulk`, or send_group
    tasks of prepared emails with `groups`.

    The emails the broker did not confirm are returned, after being made due for the
    sweeper in `session` (committed here).
    """
    ids = list(email_ids)
    if not ids:
        return []
    try:
        if bulk:
            publish_batches(ids, correlation)
        elif groups:
            _publish_chunks("mailroom.send_group", ids, GROUP, {})
        else:
            enqueue(ids, correlation, eta)
    except PublishError as err:
        forget_publish(session, err.unpublished)
        session.commit()
        return err.unpublished
    return []


def publish_chain(
    email_id: uuid.UUID | str,
    *,
    from_step: int = 0,
    producer: Any = None,
    headers: Mapping[str, str] | None = None,
    **options: Any,
) -> None:
    """Publish the email's chain from `from_step` on: the rest travels inside the first
    task's message (Celery's protocol 2 `chain` option), one broker round-trip."""
    eid = str(email_id)
    first, *rest = CHAIN[from_step:]
    tail = [
        celery_app.signature(name, args=(eid,), immutable=True).set(headers=dict(headers or {}))
        for name in reversed(rest)
    ]
    celery_app.send_task(
        first, (eid,), chain=tail, producer=producer, headers=dict(headers or {}), **options
    )


def enqueue(
    email_ids: Iterable[uuid.UUID | str],
    correlation: Mapping[str, str | None] | None = None,
    eta: datetime | None = None,
) -> None:
    """Publish one chain per email over one producer (confirmed by the broker on AMQP); each
    message carries the email's correlation id for the logs. `PublishError` on failure."""
    ids = [str(eid) for eid in email_ids]
    done = 0
    try:
        with celery_app.producer_or_acquire() as producer:
            for eid in ids:
                cid = (correlation or {}).get(eid)
                headers = {logs.CORRELATION_HEADER: cid} if cid else {}
                publish_chain(eid, producer=producer, headers=headers, eta=eta)
                done += 1
    except (KombuError, OSError) as err:
        log.warning("publish failed for %d of %d emails: %r", len(ids) - done, len(ids), err)
        raise PublishError(str(err), ids[done:]) from err


def publish_batches(
    email_ids: Sequence[uuid.UUID | str], correlation: Mapping[str, str | None] | None = None
) -> None:
    """Publish the emails in chunks of CHUNK, one batch task message each."""
    first = next(iter((correlation or {}).values()), None)
    headers = {logs.CORRELATION_HEADER: first} if first else {}
    _publish_chunks("mailroom.send_batch", email_ids, CHUNK, headers)


def _publish_chunks(
    task: str, email_ids: Sequence[uuid.UUID | str], size: int, headers: dict[str, str]
) -> None:
    """Publish `task` once per chunk of `size` emails; `PublishError` names the chunks from
    the one that failed on (those before it were confirmed)."""
    ids = [str(eid) for eid in email_ids]
    start = 0
    try:
        with celery_app.producer_or_acquire() as producer:
            for start in range(0, len(ids), size):
                celery_app.send_task(
                    task, (ids[start : start + size],), producer=producer, headers=headers
                )
    except (KombuError, OSError) as err:
        raise PublishError(str(err), ids[start:]) from err


def publish_callbacks(delivery_ids: Iterable[uuid.UUID]) -> None:
    """Publish status-callback deliveries; a failure is left to the sweeper (the rows stay
    pending, and it re-publishes overdue ones)."""
    try:
        with celery_app.producer_or_acquire() as producer:
            for delivery_id in delivery_ids:
                celery_app.send_task(
                    "mailroom.deliver_callback", (str(delivery_id),), producer=producer
                )
    except Exception:  # noqa: BLE001 - never fail the caller's commit over a callback
        log.warning("callback publish failed; the sweeper will retry", exc_info=True)


# The store writes a status change's callback deliveries in the change's transaction (an
# outbox); every process that changes statuses publishes them once that transaction commits.
# Registered here, where the API and the workers both publish from.
@event.listens_for(Session, "after_commit")
def _publish_after_commit(session: Session) -> None:
    ids = session.info.pop(PENDING_KEY, None)
    if ids:
        publish_callbacks(ids)


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(PENDING_KEY, None)
