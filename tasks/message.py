"""Turn a stored email into the provider layer's `OutboundEmail`."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from providers.base import Attachment, OutboundEmail
from storage import ObjectStorage
from store.stored import StoredEmail
from tasks.attachments import read_as_described


def build_outbound(email: StoredEmail, storage: ObjectStorage) -> OutboundEmail:
    """The message exactly as every provider should send it, attachments read from storage."""
    return with_attachments(draft(email), email.attachment_manifest or (), storage)


def draft(email: StoredEmail) -> OutboundEmail:
    """The message without its attachments' bytes."""
    headers = dict(email.headers)
    # Lets anyone holding the message (a provider log, a bounce) find it in Mailroom again.
    headers["X-Mailroom-Email-Id"] = str(email.id)
    return OutboundEmail(
        from_addr=email.from_addr,
        to=email.to_addrs,
        cc=email.cc_addrs,
        bcc=email.bcc_addrs,
        reply_to=email.reply_to,
        subject=email.subject,
        html=email.html,
        text=email.text,
        headers=tuple(headers.items()),
        message_id=email.message_id,
        tags=email.tags,
    )


def with_attachments(
    message: OutboundEmail, manifest: Sequence[dict[str, Any]], storage: ObjectStorage
) -> OutboundEmail:
    """`message` with the attachments of `manifest`, read from storage now (refused with
    AttachmentsRefused if one changed since it was described)."""
    if not manifest:
        return message
    attachments = tuple(
        Attachment(
            filename=item["filename"],
            content_type=item["contentType"],
            content=read_as_described(storage, item),
        )
        for item in manifest
    )
    return dataclasses.replace(message, attachments=attachments)
