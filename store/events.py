"""An email's history: events and provider attempts, appended in multi-row INSERTs."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from models import EventType, utcnow
from store.tables import ATTEMPTS, EVENTS, connection

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
