"""Turn a stored email into the provider layer's `OutboundEmail`."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from models import Email
from providers.base import Attachment, OutboundEmail
from storage import ObjectStorage


def build_outbound(email: Email, storage: ObjectStorage) -> OutboundEmail:
    """The message exactly as every provider should send it, attachments read from storage."""
    return with_attachments(draft(email), email.attachment_manifest or [], storage)


def draft(email: Email, **content: Any) -> OutboundEmail:
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
        tags=tuple(email.tags),
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
