"""Temporary adapter (replaced by the typed SendRequest path): dict requests to store.accept."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from models import Email
from render import Rendered
from store.accept import Accepted, accept, message_id_for
from store.request import SendRequest

__all__ = ["create_email", "create_emails", "message_id_for"]
_TUPLES = ("to", "cc", "bcc", "attachments", "tags")


def _typed(request: dict[str, Any]) -> SendRequest:
    known = set(SendRequest.__dataclass_fields__)
    values = {k: v for k, v in request.items() if k in known}
    for name in _TUPLES:
        if name in values:
            values[name] = tuple(values[name] or ())
    values.setdefault("to", ())
    values.setdefault("from_addr", None)
    if values.get("signature") is None:
        values.pop("signature", None)
    return SendRequest(**values)


def create_emails(
    session: Session,
    requests: Sequence[tuple[dict[str, Any], Rendered]],
    *,
    correlation_id: str | None = None,
    email_ids: Sequence[uuid.UUID] | None = None,
) -> list[Accepted]:
    return accept(
        session,
        [(_typed(r), rendered) for r, rendered in requests],
        correlation_id=correlation_id,
        email_ids=email_ids,
    )


def create_email(
    session: Session,
    request: dict[str, Any],
    rendered: Rendered,
    *,
    correlation_id: str | None = None,
    email_id: uuid.UUID | None = None,
) -> Email:
    a = create_emails(
        session,
        [(request, rendered)],
        correlation_id=correlation_id,
        email_ids=[email_id] if email_id else None,
    )[0]
    return Email(
        id=a.id,
        status=a.status,
        from_addr=a.from_addr,
        to_addrs=list(a.to),
        cc_addrs=list(a.cc),
        bcc_addrs=list(a.bcc),
        subject=a.subject,
        html=a.html,
        text=a.text,
        template_id=a.template_id,
        attachment_keys=list(a.attachments),
        send_at=a.send_at,
    )
