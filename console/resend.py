"""Resending an email: a new email with the first one's content, linked to it both ways."""

from __future__ import annotations

import uuid

from api.accept import accept_email
from api.db import db
from models import Email, EmailStatus, EventType
from render import Rendered
from store.events import Event, add_events
from store.request import SendRequest

# Before these, the stored content is what the API accepted; from rendering on it is the
# final content (brand, signature and styles applied), which must not be applied twice.
_UNRENDERED = frozenset({EmailStatus.SCHEDULED, EmailStatus.QUEUED})


def copy_request(email: Email) -> tuple[SendRequest, Rendered]:
    """`email` as a new request and its content, exactly as stored (nothing is re-rendered)."""
    final = email.status not in _UNRENDERED
    request = SendRequest(
        from_addr=email.from_addr,
        to=tuple(email.to_addrs or ()),
        cc=tuple(email.cc_addrs or ()),
        bcc=tuple(email.bcc_addrs or ()),
        reply_to=email.reply_to,
        template_id=email.template_id,
        template_version=email.template_version,
        brand_id=None if final else email.brand_id,
        lang=email.lang,
        variables=dict(email.variables or {}),
        attachments=tuple(email.attachment_keys or ()),
        brand_styles=False if final else email.brand_styles,
        custom_style=None if final else email.custom_style,
        headers=dict(email.headers or {}),
        tags=tuple(email.tags),
        signature=not final,
    )
    return request, Rendered(subject=email.subject, html=email.html, text=email.text)


def resend(email: Email) -> uuid.UUID:
    """Store and queue `email`'s content again as a new email; each records a `resent` event
    naming the other. The new email's id."""
    session = db()
    request, rendered = copy_request(email)
    # A copy keeps its original's mode: resending a test email never mails anyone.
    copy = accept_email(session, request, rendered, test=email.is_test)
    add_events(
        session,
        [
            Event(email.id, EventType.RESENT, {"resentAs": str(copy.id)}),
            Event(copy.id, EventType.RESENT, {"resentFrom": str(email.id)}),
        ],
    )
    session.commit()
    return copy.id
