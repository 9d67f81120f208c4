"""The suppression list: addresses no provider is asked to mail again."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Suppression, utcnow


def suppressed_among(session: Session, addresses: Iterable[str]) -> set[str]:
    """The lower-cased addresses of `addresses` that are suppressed."""
    wanted = {a.lower() for a in addresses}
    if not wanted:
        return set()
    rows = session.scalars(select(Suppression.address).where(Suppression.address.in_(wanted)))
    return set(rows)


def suppress(
    session: Session,
    address: str,
    *,
    reason: str,
    source: str,
    detail: str | None = None,
    email_id: uuid.UUID | None = None,
) -> Suppression:
    """Add or refresh an entry (the latest reason wins)."""
    key = address.strip().lower()
    entry = session.get(Suppression, key)
    if entry is None:
        entry = Suppression(address=key, reason=reason, source=source)
        session.add(entry)
    else:
        entry.updated_at = utcnow()
    entry.reason, entry.source, entry.detail, entry.email_id = reason, source, detail, email_id
    return entry
