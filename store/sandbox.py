"""What the sandbox provider accepted: test-mode emails' raw messages, kept for reading back."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from models import SandboxMessage, utcnow
from models.db import table_of
from store.tables import connection

SANDBOX_MESSAGES = table_of(SandboxMessage)


def keep_raw(session: Session, messages: Mapping[uuid.UUID, tuple[str, bytes]]) -> None:
    """Store each email's (provider message id, raw message), replacing an earlier copy: a
    send repeated after a lost claim is the same message again, not an error."""
    if not messages:
        return
    conn = connection(session)
    conn.execute(delete(SANDBOX_MESSAGES).where(SANDBOX_MESSAGES.c.email_id.in_(list(messages))))
    now = utcnow()
    conn.execute(
        insert(SANDBOX_MESSAGES),
        [
            {"email_id": eid, "provider_message_id": mid, "raw": raw, "created_at": now}
            for eid, (mid, raw) in messages.items()
        ],
    )


def raw_message(session: Session, email_id: uuid.UUID) -> bytes | None:
    """The raw message the sandbox accepted for the email, None if it has none (yet)."""
    raw = (
        connection(session)
        .execute(select(SANDBOX_MESSAGES.c.raw).where(SANDBOX_MESSAGES.c.email_id == email_id))
        .scalar_one_or_none()
    )
    return bytes(raw) if raw is not None else None
