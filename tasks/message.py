"""Turn a stored email into the provider layer's `OutboundEmail`."""

from __future__ import annotations

from models import Email
from providers.base import Attachment, OutboundEmail
from storage import ObjectStorage


def build_outbound(email: Email, storage: ObjectStorage) -> OutboundEmail:
    """The message exactly as every provider should send it, attachments read from storage."""
    attachments = tuple(
        Attachment(
            filename=item["filename"],
            content_type=item["contentType"],
            content=storage.read(item["key"]),
        )
        for item in email.attachment_manifest or []
    )
    headers = dict(email.headers or {})
    # Lets anyone holding the message (a provider log, a bounce) find it in Mailroom again.
    headers["X-Mailroom-Email-Id"] = str(email.id)
    return OutboundEmail(
        from_addr=email.from_addr,
        to=tuple(email.to_addrs),
        cc=tuple(email.cc_addrs),
        bcc=tuple(email.bcc_addrs),
        reply_to=email.reply_to,
        subject=email.subject,
        html=email.html,
        text=email.text,
        headers=tuple(headers.items()),
        attachments=attachments,
        message_id=email.message_id,
        tags=tuple(email.tags),
    )
