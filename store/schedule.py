"""When emails are due: scheduled emails' release and cancellation, the sweeper's re-publishes,
and what a failed publish leaves for it."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import timedelta

from sqlalchemy import case, literal, or_, select, update
from sqlalchemy.orm import Session

from models import IN_FLIGHT_STATUSES, EmailStatus, EventType, utcnow
from store.events import Event, add_events
from store.tables import EMAILS, connection
from store.transitions import transition

# Re-publishes of one email are spaced 1, 2, 4, then every 8 leases: an email waiting behind a
# backlog longer than the lease cannot tell the sweeper from a lost one, and re-publishing every
# such email every lease would feed the backlog that made it late.
REQUEUE_SPACING = (1, 2, 4, 8)


def stale_in_flight(session: Session, lease: timedelta, limit: int) -> list[uuid.UUID]:
    """Emails the pipeline should have finished with by now: published a lease ago or never."""
    cutoff = utcnow() - lease
    rows = session.scalars(
        select(EMAILS.c.id)
        .where(
            EMAILS.c.status.in_(list(IN_FLIGHT_STATUSES)),
            or_(EMAILS.c.enqueued_at.is_(None), EMAILS.c.enqueued_at < cutoff),
        )
        .order_by(EMAILS.c.created_at)
        .limit(limit)
    )
    return list(rows)


def mark_requeued(
    session: Session, email_ids: Sequence[uuid.UUID], lease: timedelta
) -> list[uuid.UUID]:
    """Stamp stale emails as re-published now, unless another sweeper got there first.

    Each one's next re-publish is due after `REQUEUE_SPACING[requeues]` leases: `enqueued_at`
    (when the sweeper may step in once a lease has passed) is set that many leases minus one
    ahead.
    """
    now = utcnow()
    column = EMAILS.c.enqueued_at
    due_after = case(
        *(
            (EMAILS.c.requeues == n, literal(now + (leases - 1) * lease, column.type))
            for n, leases in enumerate(REQUEUE_SPACING[:-1])
        ),
        else_=literal(now + (REQUEUE_SPACING[-1] - 1) * lease, column.type),
    )
    rows = transition(
        session,
        email_ids,
        expected=IN_FLIGHT_STATUSES,
        values={"enqueued_at": due_after, "requeues": EMAILS.c.requeues + 1},
        where=[or_(column.is_(None), column < now - lease)],
    )
    moved = [row[0] for row in rows]
    add_events(
        session, [Event(e, EventType.REQUEUED, "re-published by the sweeper") for e in moved]
    )
    return moved


def release_due_scheduled(session: Session, limit: int) -> list[uuid.UUID]:
    """Move scheduled emails whose time has come to `queued`; the ids to publish."""
    due = session.scalars(
        select(EMAILS.c.id)
        .where(EMAILS.c.status == EmailStatus.SCHEDULED, EMAILS.c.send_at <= utcnow())
        .order_by(EMAILS.c.send_at)
        .limit(limit)
    )
    return release_scheduled(session, list(due))


def release_scheduled(session: Session, email_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    """scheduled -> queued, for those whose time has come."""
    now = utcnow()
    rows = transition(
        session,
        email_ids,
        expected=[EmailStatus.SCHEDULED],
        to=EmailStatus.QUEUED,
        values={"enqueued_at": now},
        where=[EMAILS.c.send_at <= now],
    )
    moved = [row[0] for row in rows]
    add_events(session, [Event(e, EventType.QUEUED, "scheduled time reached") for e in moved])
    return moved


def cancel_scheduled(session: Session, email_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    """scheduled -> failed with a `cancelled` event, for those that have not started."""
    rows = transition(
        session,
        email_ids,
        expected=[EmailStatus.SCHEDULED],
        to=EmailStatus.FAILED,
        values={"last_error": "cancelled"},
    )
    moved = [row[0] for row in rows]
    add_events(session, [Event(e, EventType.CANCELLED, "cancelled before its time") for e in moved])
    return moved


def forget_publish(session: Session, email_ids: Iterable[uuid.UUID]) -> None:
    """After a failed publish: make the emails due for the sweeper's next run at once."""
    connection(session).execute(
        update(EMAILS)
        .where(EMAILS.c.id.in_(list(email_ids)), EMAILS.c.status.in_(list(IN_FLIGHT_STATUSES)))
        .values(enqueued_at=None)
    )
