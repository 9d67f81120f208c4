"""Rows for the store's tests: emails in a given state, and what their history says."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from models import Email, EmailEvent

LEASE = timedelta(minutes=5)


def make_email(sessions: sessionmaker[Session], **values: object) -> uuid.UUID:
    """A committed email with `values` over plain defaults; its id."""
    defaults: dict[str, object] = {
        "from_addr": "a@example.com",
        "to_addrs": ["b@example.com"],
        "cc_addrs": [],
        "bcc_addrs": [],
        "subject": "s",
        "html": "<p>x</p>",
        "variables": {},
        "attachment_keys": [],
        "headers": {},
        "message_id": "<x@example.com>",
    }
    email = Email(**{**defaults, **values})
    with sessions() as session:
        session.add(email)
        session.commit()
        return email.id


def event_types(sessions: sessionmaker[Session], eid: uuid.UUID) -> list[str]:
    """The types of the email's events, oldest first."""
    return [e.type for e in events_of(sessions, eid)]


def events_of(sessions: sessionmaker[Session], eid: uuid.UUID) -> list[EmailEvent]:
    """The email's events, oldest first."""
    with sessions() as session:
        return list(
            session.scalars(
                select(EmailEvent).where(EmailEvent.email_id == eid).order_by(EmailEvent.id)
            )
        )


def row(sessions: sessionmaker[Session], eid: uuid.UUID) -> Email:
    """The email's row as it is now."""
    with sessions() as session:
        email = session.get(Email, eid)
        assert email is not None
        return email


def rows(sessions: sessionmaker[Session], ids: list[uuid.UUID]) -> dict[uuid.UUID, Email]:
    """The emails' rows as they are now, by id."""
    with sessions() as session:
        found: dict[uuid.UUID, Any] = {
            e.id: e for e in session.scalars(select(Email).where(Email.id.in_(ids)))
        }
    return found
