"""Turn a stored email into the provider layer's `OutboundEmail`."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Column, Row, select
from sqlalchemy.orm import Session

from models import Email, EmailTag
from models.db import table_of
from providers.base import Attachment, OutboundEmail
from storage import ObjectStorage

# A loaded `Email`, or a Core row of the columns a step reads (`MESSAGE_COLUMNS` here).
StoredEmail = Email | Row[Any]

_EMAILS = table_of(Email)
_TAGS = table_of(EmailTag)


def email_columns(*names: str) -> tuple[Column[Any], ...]:
    """Columns of the emails table, for a step's Core read of just what it uses."""
    return tuple(_EMAILS.c[name] for name in names)


MESSAGE_COLUMNS = email_columns(
    "id", "from_addr", "to_addrs", "cc_addrs", "bcc_addrs", "reply_to", "subject", "html",
    "text", "headers", "message_id", "attachment_manifest", "pinned_provider",
)  # fmt: skip


def load_message(session: Session, email_id: Any) -> tuple[Row[Any], list[str]] | None:
    """The columns a message is built from, and the email's tags, read with two Core queries
    (the ORM's entity load and selectinload cost more than the queries themselves)."""
    connection = session.connection()
    row = connection.execute(select(*MESSAGE_COLUMNS).where(_EMAILS.c.id == email_id)).one_or_none()
    if row is None:
        return None
    tags = connection.execute(
        select(_TAGS.c.tag).where(_TAGS.c.email_id == email_id).order_by(_TAGS.c.position)
    )
    return row, list(tags.scalars())


def build_outbound(
    email: StoredEmail, tags: Sequence[str], storage: ObjectStorage
) -> OutboundEmail:
    """The message exactly as every provider should send it, attachments read from storage."""
    return with_attachments(draft(email, tags), email.attachment_manifest or [], storage)


def draft(email: StoredEmail, tags: Sequence[str], **content: Any) -> OutboundEmail:
    """The message without its attachments' bytes; `content` (subject, html, text) overrides
    the row's, for a caller that has just rendered it."""
    headers = dict(email.headers or {})
    # Lets anyone holding the message (a provider log, a bounce) find it in Mailroom again.
    headers["X-Mailroom-Email-Id"] = str(email.id)
    message = OutboundEmail(
        from_addr=email.from_addr,
        to=tuple(email.to_addrs),
        cc=tuple(email.cc_addrs),
        bcc=tuple(email.bcc_addrs),
        reply_to=email.reply_to,
        subject=email.subject,
        html=email.html,
        text=email.text,
        headers=tuple(headers.items()),
        message_id=email.message_id,
        tags=tuple(tags),
    )
    return dataclasses.replace(message, **content) if content else message


def with_attachments(
    message: OutboundEmail, manifest: Sequence[dict[str, Any]], storage: ObjectStorage
) -> OutboundEmail:
    """`message` with the attachments of `manifest`, read from storage now."""
    if not manifest:
        return message
    attachments = tuple(
        Attachment(
            filename=item["filename"],
            content_type=item["contentType"],
            content=storage.read(item["key"]),
        )
        for item in manifest
    )
    return dataclasses.replace(message, attachments=attachments)
