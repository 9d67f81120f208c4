"""The tables the store writes, as Core tables, and the session's connection to write on.

The store writes through Core on the session's connection: ORM-enabled statements would add
their bookkeeping (and an autoflush) to every write, for objects nobody reads back.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Connection, CursorResult
from sqlalchemy.orm import Session

from models import CallbackDelivery, Email, EmailEvent, EmailTag, SendAttempt, WebhookEndpoint
from models.db import table_of

EMAILS = table_of(Email)
EVENTS = table_of(EmailEvent)
ATTEMPTS = table_of(SendAttempt)
TAGS = table_of(EmailTag)
DELIVERIES = table_of(CallbackDelivery)
ENDPOINTS = table_of(WebhookEndpoint)


def connection(session: Session) -> Connection:
    """The session's connection, after flushing pending ORM changes (what an ORM statement's
    autoflush would do), so a Core write here sees the caller's objects."""
    if session.new or session.dirty or session.deleted:
        session.flush()
    return session.connection()


def email_columns(*names: str) -> tuple[Column[Any], ...]:
    """Columns of the emails table, for a Core read of just what a step uses."""
    return tuple(EMAILS.c[name] for name in names)


def rowcount(result: Any) -> int:
    """Rows an UPDATE or DELETE matched."""
    assert isinstance(result, CursorResult)
    return int(result.rowcount)
