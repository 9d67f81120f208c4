"""Retention: what the purge clears and deletes, one small batch per transaction.

Each function here changes at most `limit` rows chosen by primary key and returns; the caller
commits after each, so no lock is held longer than one batch, and a run can stop between any
two. On PostgreSQL a batch skips rows another transaction holds (`SKIP LOCKED`) instead of
waiting for them: a webhook updating an old email is never stalled by the purge.

- content: a final email older than the content age keeps its skeleton (addresses, subject,
  status, ids, dates) but loses its bodies, variables, attachment manifest, signature and
  style, and a test-mode email its raw message; `content_purged_at` says when.
- records: a final email older than the record age is deleted with its events, attempts,
  recipients, tags, callback deliveries and raw message.
- idempotency keys: deleted once past their 24 h (they are only replayed within it).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, Table, delete, func, null, select, update
from sqlalchemy.orm import Session

from models import (
    FINAL_STATUSES,
    EmailRecipient,
    IdempotencyKey,
    SandboxMessage,
    utcnow,
)
from models.db import table_of
from store.tables import ATTEMPTS, DELIVERIES, EMAILS, EVENTS, TAGS, connection, rowcount

RECIPIENTS = table_of(EmailRecipient)
IDEMPOTENCY = table_of(IdempotencyKey)
SANDBOX = table_of(SandboxMessage)  # a test-mode email's raw message: content too
# An email's rows in other tables, deleted before the email itself (children first: SQLite's
# foreign keys and PostgreSQL's cascades then have nothing left to do).
_CHILDREN: tuple[Table, ...] = (EVENTS, ATTEMPTS, RECIPIENTS, TAGS, DELIVERIES, SANDBOX)
_FINAL = list(FINAL_STATUSES)
# What "content" is: cleared to these values.
CLEARED_CONTENT: dict[str, Any] = {
    "html": None,
    "text": None,
    "variables": {},
    "attachment_manifest": null(),  # SQL NULL, not JSON null
    "custom_style": None,
    "signature_html": None,
    "signature_text": None,
}


@dataclass(frozen=True)
class Purged:
    """An email the purge cleared or deleted, with the attachment keys it still referred to."""

    id: uuid.UUID
    attachment_keys: tuple[str, ...]


def _oldest_final(created_before: datetime, limit: int) -> Select[Any]:
    """Final emails created before the cutoff, oldest first, locked (skipping held rows)."""
    return (
        select(EMAILS.c.id, EMAILS.c.attachment_keys, EMAILS.c.content_purged_at)
        .where(EMAILS.c.created_at < created_before, EMAILS.c.status.in_(_FINAL))
        .order_by(EMAILS.c.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )


def _purged(rows: Sequence[Any]) -> list[Purged]:
    """The emails, with their attachment keys unless their content went earlier (and the
    uploads with it)."""
    return [
        Purged(row.id, () if row.content_purged_at else tuple(row.attachment_keys or ()))
        for row in rows
    ]


def purge_content(
    session: Session, created_before: datetime, limit: int, created_after: datetime | None = None
) -> list[Purged]:
    """Clear the content of up to `limit` final emails created before the cutoff (and after
    `created_after`: older ones are the record purge's, which deletes them whole)."""
    conn = connection(session)
    query = _oldest_final(created_before, limit).where(EMAILS.c.content_purged_at.is_(None))
    if created_after is not None:
        query = query.where(EMAILS.c.created_at >= created_after)
    rows = conn.execute(query).all()
    if rows:
        ids = [row.id for row in rows]
        conn.execute(
            update(EMAILS)
            .where(EMAILS.c.id.in_(ids))
            .values(**CLEARED_CONTENT, content_purged_at=utcnow())
        )
        conn.execute(delete(SANDBOX).where(SANDBOX.c.email_id.in_(ids)))
    return _purged(rows)


def purge_records(session: Session, created_before: datetime, limit: int) -> list[Purged]:
    """Delete up to `limit` final emails created before the cutoff, with all their rows."""
    conn = connection(session)
    rows = conn.execute(_oldest_final(created_before, limit)).all()
    ids = [row.id for row in rows]
    if ids:
        for table in _CHILDREN:
            conn.execute(delete(table).where(table.c.email_id.in_(ids)))
        conn.execute(delete(EMAILS).where(EMAILS.c.id.in_(ids)))
    return _purged(rows)


def purge_idempotency_keys(session: Session, created_before: datetime, limit: int) -> int:
    """Delete up to `limit` idempotency keys created before the cutoff; how many."""
    conn = connection(session)
    ids = conn.scalars(
        select(IDEMPOTENCY.c.id)
        .where(IDEMPOTENCY.c.created_at < created_before)
        .order_by(IDEMPOTENCY.c.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if not ids:
        return 0
    return rowcount(conn.execute(delete(IDEMPOTENCY).where(IDEMPOTENCY.c.id.in_(ids))))


def content_kept(session: Session, email_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these emails exist with their content (their uploads must stay)."""
    if not email_ids:
        return set()
    rows = connection(session).scalars(
        select(EMAILS.c.id).where(
            EMAILS.c.id.in_(list(email_ids)), EMAILS.c.content_purged_at.is_(None)
        )
    )
    return set(rows)


@dataclass(frozen=True)
class Due:
    """What a purge at these cutoffs would change now (`mailroom purge --dry-run`)."""

    content: int
    records: int
    idempotency_keys: int


def count_due(
    session: Session,
    content_before: datetime | None,
    records_before: datetime | None,
    keys_before: datetime,
) -> Due:
    """How many rows each part of the purge would touch (content: of emails not due for
    deletion); a None cutoff: kept forever."""
    conn = connection(session)

    def final_before(cutoff: datetime) -> Select[Any]:
        return select(func.count()).where(EMAILS.c.created_at < cutoff, EMAILS.c.status.in_(_FINAL))

    content = records = 0
    if content_before is not None:
        query = final_before(content_before).where(EMAILS.c.content_purged_at.is_(None))
        if records_before is not None:
            query = query.where(EMAILS.c.created_at >= records_before)
        content = int(conn.scalar(query) or 0)
    if records_before is not None:
        records = int(conn.scalar(final_before(records_before)) or 0)
    keys = select(func.count()).where(IDEMPOTENCY.c.created_at < keys_before)
    return Due(content=content, records=records, idempotency_keys=int(conn.scalar(keys) or 0))
