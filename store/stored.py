"""`StoredEmail`: an email as the pipeline reads it, a frozen value built from its row."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import EmailStatus
from store.tables import EMAILS, TAGS, connection


@dataclass(frozen=True)
class StoredEmail:
    """What rendering and sending read of an email: content, addresses, options, progress."""

    id: uuid.UUID
    status: EmailStatus
    from_addr: str
    to_addrs: tuple[str, ...]
    cc_addrs: tuple[str, ...]
    bcc_addrs: tuple[str, ...]
    reply_to: str | None
    subject: str
    html: str | None
    text: str | None
    headers: dict[str, str]
    message_id: str
    template_id: uuid.UUID | None
    variables: dict[str, Any]
    lang: str | None
    brand_styles: bool
    brand_id: uuid.UUID | None
    custom_style: str | None
    signature_html: str | None
    signature_text: str | None
    attachment_keys: tuple[str, ...]
    attachment_manifest: tuple[dict[str, Any], ...] | None
    pinned_provider: str | None
    # The caller's provider order for this email, or None for the configured one.
    providers: tuple[str, ...] | None
    send_at: datetime | None
    send_tries: int
    # A test-mode email: only the sandbox provider may have it.
    is_test: bool
    # Tracking asked for; None: the deployment's default.
    track_opens: bool | None
    track_clicks: bool | None
    tags: tuple[str, ...]


_COLUMNS = tuple(EMAILS.c[f.name] for f in fields(StoredEmail) if f.name != "tags")
_TUPLES = {"to_addrs", "cc_addrs", "bcc_addrs", "attachment_keys"}


def load(session: Session, email_ids: Sequence[uuid.UUID]) -> list[StoredEmail]:
    """The emails of `email_ids` that exist, in id order, with their tags (two queries)."""
    if not email_ids:
        return []
    conn = connection(session)
    ids = sorted(set(email_ids))
    rows = conn.execute(select(*_COLUMNS).where(EMAILS.c.id.in_(ids)).order_by(EMAILS.c.id))
    tags: dict[uuid.UUID, list[str]] = {}
    for email_id, tag in conn.execute(
        select(TAGS.c.email_id, TAGS.c.tag)
        .where(TAGS.c.email_id.in_(ids))
        .order_by(TAGS.c.email_id, TAGS.c.position)
    ):
        tags.setdefault(email_id, []).append(tag)
    return [_stored(row._mapping, tags.get(row.id, [])) for row in rows]


def _stored(row: Any, tags: list[str]) -> StoredEmail:
    values = dict(row)
    for name in _TUPLES:
        values[name] = tuple(values[name] or ())
    manifest = values["attachment_manifest"]
    values["attachment_manifest"] = None if manifest is None else tuple(manifest)
    values["providers"] = None if values["providers"] is None else tuple(values["providers"])
    values["status"] = EmailStatus(values["status"])
    values["headers"] = dict(values["headers"] or {})
    values["variables"] = dict(values["variables"] or {})
    return StoredEmail(**values, tags=tuple(tags))
