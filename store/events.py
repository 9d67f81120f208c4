"""An email's history: events and provider attempts, appended in multi-row INSERTs."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Table, func, insert, select
from sqlalchemy.orm import Session

from models import EventType, utcnow
from store.outbox import queue_engagement
from store.tables import ATTEMPTS, EMAILS, EVENTS, connection

# Above this many rows a PostgreSQL INSERT goes through COPY: a batch writes several rows per
# email, and an executemany costs several times more CPU per row (bulk benchmark).
_COPY_FROM = 20


class Event(NamedTuple):
    """One entry of an email's history."""

    email_id: uuid.UUID
    type: EventType | str
    detail: Any = None
    recipient: str | None = None
    provider: str | None = None
    at: datetime | None = None


def event_row(event: Event) -> dict[str, Any]:
    """The event as the columns of its row."""
    return {
        "email_id": event.email_id,
        "type": str(event.type),
        "detail": event.detail,
        "recipient": event.recipient,
        "provider": event.provider,
        "at": event.at or utcnow(),
    }


def add_events(session: Session, events: Iterable[Event]) -> None:
    """Append `events` to their emails' histories."""
    _insert(session, EVENTS, [event_row(e) for e in events], json_column="detail")


def record_attempts(session: Session, attempts: Iterable[tuple[uuid.UUID, Any]]) -> None:
    """Store provider attempts, each given as (email id, a failover `Attempt`)."""
    rows = [
        {
            "email_id": email_id,
            "provider": a.provider,
            "outcome": a.outcome,
            "error_kind": a.kind,
            "error": a.error,
            "at": a.at,
            "duration_ms": round(a.duration_seconds * 1000, 3),
        }
        for email_id, a in attempts
    ]
    _insert(session, ATTEMPTS, rows)


def _insert(
    session: Session, table: Table, rows: Sequence[dict[str, Any]], json_column: str = ""
) -> None:
    """Insert `rows` in the session's transaction; through COPY for many rows on PostgreSQL
    (the store's one dialect check)."""
    if not rows:
        return
    conn = connection(session)
    if len(rows) < _COPY_FROM or conn.dialect.name != "postgresql":
        conn.execute(insert(table), list(rows))
        return
    from psycopg.types.json import Json

    columns = list(rows[0])
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor, cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([Json(row[c]) if c == json_column else row[c] for c in columns])


# Opens of one email closer together than this count once: a client that shows the message
# again, or a proxy and the reader fetching the pixel both, is not a second reading.
OPEN_WINDOW = timedelta(minutes=1)


def record_open(session: Session, email_id: uuid.UUID) -> bool:
    """Record an `opened` event unless the email's last one is under a minute old; False when
    the email is gone (purged) or the open was counted already."""
    is_test = _test_flag(session, email_id, lock=True)
    if is_test is None:
        return False
    now = utcnow()
    last = connection(session).scalar(
        select(func.max(EVENTS.c.at)).where(
            EVENTS.c.email_id == email_id, EVENTS.c.type == str(EventType.OPENED)
        )
    )
    if last is not None and now - _aware(last) < OPEN_WINDOW:
        return False
    add_events(session, [Event(email_id, EventType.OPENED, at=now)])
    queue_engagement(session, email_id, str(EventType.OPENED), None, is_test=is_test)
    return True


def record_click(session: Session, email_id: uuid.UUID, url: str) -> bool:
    """Record a `clicked` event naming the link; False when the email is gone (purged)."""
    is_test = _test_flag(session, email_id, lock=False)
    if is_test is None:
        return False
    detail = {"url": url}
    add_events(session, [Event(email_id, EventType.CLICKED, detail=detail)])
    queue_engagement(session, email_id, str(EventType.CLICKED), detail, is_test=is_test)
    return True


def _test_flag(session: Session, email_id: uuid.UUID, *, lock: bool) -> bool | None:
    """The email's test flag, or None when there is no such email; with `lock`, its row is
    locked (PostgreSQL) so that two opens at once are counted once."""
    query = select(EMAILS.c.is_test).where(EMAILS.c.id == email_id)
    row = connection(session).execute(query.with_for_update() if lock else query).first()
    return None if row is None else bool(row[0])


def _aware(at: datetime) -> datetime:
    # SQLite hands back naive datetimes (stored as UTC).
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
