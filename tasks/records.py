"""Turning a validated send request into stored rows (for the API, the CLI and list sends)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from email.utils import parseaddr
from typing import Any

from sqlalchemy.orm import Session

from models import Email, EmailRecipient, EmailStatus, EmailTag, EventType, utcnow
from models.email_event import EmailEvent
from render import Rendered
from tasks.signatures import signature_for
from tasks.suppressions import suppressed_among


def bare_address(formatted: str) -> str:
    """The address part of `Name <addr>`, lower-cased for search."""
    return parseaddr(formatted)[1].lower()


def message_id_for(email_id: uuid.UUID, from_addr: str) -> str:
    """A Message-ID fixed at acceptance, so every attempt on every provider carries the same."""
    domain = bare_address(from_addr).rpartition("@")[2] or "mailroom.invalid"
    return f"<{email_id}@{domain}>"


class Lookups:
    """The suppression list and sender signatures as one batch of emails needs them, read in
    one query each instead of one per email (which would also flush the session every time)."""

    def __init__(self, session: Session, requests: Iterable[dict[str, Any]]) -> None:
        requests = list(requests)
        self.suppressed = suppressed_among(
            session,
            (
                bare_address(a)
                for r in requests
                for k in ("to", "cc", "bcc")
                for a in r.get(k) or []
            ),
        )
        senders = {r["from_addr"] for r in requests if r.get("signature", True)}
        self.signatures = {sender: signature_for(session, sender) for sender in senders}


def create_emails(
    session: Session,
    requests: Sequence[tuple[dict[str, Any], Rendered]],
    *,
    correlation_id: str | None = None,
    email_ids: Sequence[uuid.UUID] | None = None,
) -> list[Email]:
    """`create_email` for many requests: two lookups in all, then one flush of every row."""
    lookups = Lookups(session, (request for request, _ in requests))
    with session.no_autoflush:
        emails = [
            create_email(
                session,
                request,
                rendered,
                correlation_id=correlation_id,
                email_id=email_ids[n] if email_ids else None,
                lookups=lookups,
            )
            for n, (request, rendered) in enumerate(requests)
        ]
    session.flush()
    return emails


def create_email(
    session: Session,
    request: dict[str, Any],
    rendered: Rendered,
    *,
    correlation_id: str | None = None,
    email_id: uuid.UUID | None = None,
    lookups: Lookups | None = None,
) -> Email:
    """Add the email, its recipients, tags and first event to the session (not committed).

    `email_id` is for a caller that names things after the email before it exists (uploads).
    """
    email_id = email_id or uuid.uuid4()
    send_at: datetime | None = request.get("send_at")
    scheduled = send_at is not None and send_at > utcnow()
    lists = {kind: list(request.get(kind) or []) for kind in ("to", "cc", "bcc")}
    lookups = lookups or Lookups(session, [request])
    blocked = {bare_address(a) for v in lists.values() for a in v} & lookups.suppressed
    kept = {k: [a for a in v if bare_address(a) not in blocked] for k, v in lists.items()}
    # Every recipient suppressed: the email ends here, keeping its recipients for the record.
    everyone_blocked = not any(kept.values())
    if not everyone_blocked:
        lists = kept
    # Every sending endpoint signs unless the request says `"signature": false`.
    sig_html, sig_text = (
        lookups.signatures[request["from_addr"]] if request.get("signature", True) else (None, None)
    )
    status = EmailStatus.SCHEDULED if scheduled else EmailStatus.QUEUED
    if everyone_blocked:
        status = EmailStatus.SUPPRESSED
    email = Email(
        id=email_id,
        status=status,
        from_addr=request["from_addr"],
        to_addrs=lists["to"],
        cc_addrs=lists["cc"],
        bcc_addrs=lists["bcc"],
        reply_to=request.get("reply_to"),
        subject=rendered.subject,
        html=rendered.html,
        text=rendered.text,
        template_id=request.get("template_id"),
        template_version=request.get("template_version"),
        brand_id=request.get("brand_id"),
        lang=request.get("lang"),
        variables=request.get("variables", {}),
        attachment_keys=request.get("attachments", []),
        headers=request.get("headers", {}),
        brand_styles=bool(request.get("brand_styles")),
        custom_style=request.get("custom_style"),
        signature_html=sig_html,
        signature_text=sig_text,
        message_id=message_id_for(email_id, request["from_addr"]),
        correlation_id=correlation_id,
        send_at=send_at,
        enqueued_at=None if scheduled or everyone_blocked else utcnow(),
    )
    seen: set[tuple[str, str]] = set()
    for kind in ("to", "cc", "bcc"):
        for formatted in request.get(kind, []):
            pair = (bare_address(formatted), kind)
            if pair not in seen:
                seen.add(pair)
                email.recipients.append(EmailRecipient(address=pair[0], kind=kind))
    for position, tag in enumerate(dict.fromkeys(request.get("tags", []))):
        email.tag_rows.append(EmailTag(tag=tag, position=position))
    email.events.append(
        EmailEvent(
            type=EventType.ACCEPTED,
            detail={"scheduledFor": send_at.isoformat()} if scheduled and send_at else None,
        )
    )
    for address in sorted(blocked):
        email.events.append(
            EmailEvent(
                type=EventType.SUPPRESSED,
                recipient=address,
                detail="on the suppression list: not sent to this recipient",
            )
        )
    session.add(email)
    return email
