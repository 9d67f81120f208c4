"""Accepting emails: a list of `SendRequest`s becomes rows, two lookups and one INSERT per table.

A single send is a list of one. Recipients on the suppression list are dropped (an email whose
every recipient is suppressed ends `suppressed` at once), the sender's stored signature is
copied in, and the first events are written with the rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import parseaddr
from functools import lru_cache
from typing import Any

from sqlalchemy import Text, bindparam, cast, insert, literal, null, select, union_all
from sqlalchemy.orm import Session

from mailroom import metrics, unsubscribe
from mailroom.config import get_settings
from models import (
    EmailRecipient,
    EmailStatus,
    EmailTag,
    EventType,
    SenderSignature,
    Suppression,
    utcnow,
)
from models.db import table_of
from render import Rendered
from store.events import Event, event_row
from store.request import SendRequest
from store.tables import EMAILS, EVENTS, connection


@lru_cache(maxsize=4096)  # parseaddr is slow, and a batch asks about each address four times
def bare_address(formatted: str) -> str:
    """The address part of `Name <addr>`, lower-cased for search."""
    return parseaddr(formatted)[1].lower()


def _unsubscribe_headers(request: SendRequest) -> dict[str, str]:
    """List-Unsubscribe for the first `to` address, when the request asks for it."""
    if request.unsubscribe is None or not request.to or not request.from_addr:
        return {}
    scope = request.unsubscribe
    if scope == "sender":
        scope = f"sender:{bare_address(request.from_addr)}"
    return unsubscribe.headers(get_settings(), bare_address(request.to[0]), scope)


def message_id_for(email_id: uuid.UUID, from_addr: str) -> str:
    """A Message-ID fixed at acceptance, so every attempt on every provider carries the same."""
    domain = bare_address(from_addr).rpartition("@")[2] or "mailroom.invalid"
    return f"<{email_id}@{domain}>"


@dataclass(frozen=True)
class Accepted:
    """An email as it was stored: what the caller is answered."""

    id: uuid.UUID
    status: EmailStatus
    from_addr: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    bcc: tuple[str, ...]
    subject: str | None
    html: str | None
    text: str | None
    template_id: uuid.UUID | None
    attachments: tuple[str, ...]
    send_at: datetime | None
    # What the final content is built from (mailroom.content), as the worker reads it.
    variables: dict[str, Any]
    lang: str | None
    brand_id: uuid.UUID | None
    brand_styles: bool
    custom_style: str | None
    signature_html: str | None
    signature_text: str | None


class Lookups:
    """The suppression list and sender signatures as a list of emails needs them: one query
    for both, whatever the list's length."""

    def __init__(self, session: Session, requests: Iterable[SendRequest]) -> None:
        requests = list(requests)
        wanted = {bare_address(a) for r in requests for a in (*r.to, *r.cc, *r.bcc)}
        senders = {r.from_addr for r in requests if r.signature and r.from_addr}
        found = _lookup(session, wanted, {bare_address(s) for s in senders})
        self.suppressed = {address for kind, address, _, _ in found if kind == "suppressed"}
        signatures = {address: (html, text) for kind, address, html, text in found if kind == "sig"}
        self.signatures = {s: signatures.get(bare_address(s), (None, None)) for s in senders}


def _lookup_statements() -> dict[tuple[bool, bool], Any]:
    """The lookup's three shapes, built once, with expanding parameters (one cache key each)."""
    suppressions, signatures = table_of(Suppression), table_of(SenderSignature)
    suppressed = select(
        literal("suppressed").label("kind"),
        suppressions.c.address.label("address"),
        cast(null(), Text).label("html"),
        cast(null(), Text).label("text"),
    ).where(suppressions.c.address.in_(bindparam("recipients", expanding=True)))
    signed = select(
        literal("sig").label("kind"),
        signatures.c.address.label("address"),
        signatures.c.html.label("html"),
        signatures.c.text.label("text"),
    ).where(signatures.c.address.in_(bindparam("senders", expanding=True)))
    return {
        (True, False): suppressed,
        (False, True): signed,
        (True, True): union_all(suppressed, signed),
    }


_LOOKUPS = _lookup_statements()


def _lookup(
    session: Session, recipients: set[str], senders: set[str]
) -> list[tuple[str, str, str | None, str | None]]:
    """(kind, address, html, text): `suppressed` per suppressed recipient, `sig` per signer."""
    if not recipients and not senders:
        return []
    query = _LOOKUPS[(bool(recipients), bool(senders))]
    params = {"recipients": sorted(recipients), "senders": sorted(senders)}
    return [(row[0], row[1], row[2], row[3]) for row in session.execute(query, params)]


@dataclass
class EmailRows:
    """One email's rows, as plain column values for a multi-row INSERT."""

    email: dict[str, Any]
    recipients: list[dict[str, Any]]
    tags: list[dict[str, Any]]
    events: list[dict[str, Any]]

    def accepted(self) -> Accepted:
        """What the caller is told about this email."""
        e = self.email
        return Accepted(
            id=e["id"],
            status=EmailStatus(e["status"]),
            from_addr=e["from_addr"],
            to=tuple(e["to_addrs"]),
            cc=tuple(e["cc_addrs"]),
            bcc=tuple(e["bcc_addrs"]),
            subject=e["subject"],
            html=e["html"],
            text=e["text"],
            template_id=e["template_id"],
            attachments=tuple(e["attachment_keys"]),
            send_at=e["send_at"],
            variables=e["variables"],
            lang=e["lang"],
            brand_id=e["brand_id"],
            brand_styles=e["brand_styles"],
            custom_style=e["custom_style"],
            signature_html=e["signature_html"],
            signature_text=e["signature_text"],
        )


def accept(
    session: Session,
    requests: Sequence[tuple[SendRequest, Rendered]],
    *,
    correlation_id: str | None = None,
    email_ids: Sequence[uuid.UUID] | None = None,
) -> list[Accepted]:
    """Store every email of `requests` (not committed): two lookups in all, then one multi-row
    INSERT per table. `email_ids` is for callers that name things after an email before it
    exists (uploads) or derive ids to stay idempotent (list sends)."""
    if email_ids is not None and len(email_ids) != len(requests):
        raise ValueError("one email id per request")
    lookups = Lookups(session, (request for request, _ in requests))
    built = [
        email_rows(
            request,
            rendered,
            lookups,
            correlation_id=correlation_id,
            email_id=email_ids[n] if email_ids is not None else None,
        )
        for n, (request, rendered) in enumerate(requests)
    ]
    conn = connection(session)
    for table, rows in (
        (EMAILS, [b.email for b in built]),
        (table_of(EmailRecipient), [r for b in built for r in b.recipients]),
        (table_of(EmailTag), [t for b in built for t in b.tags]),
        (EVENTS, [e for b in built for e in b.events]),
    ):
        if rows:
            conn.execute(insert(table), rows)
    for b in built:
        metrics.EMAILS.labels(str(b.email["status"]), metrics.mode(b.email["is_test"])).inc()
    return [b.accepted() for b in built]


def email_rows(
    request: SendRequest,
    rendered: Rendered,
    lookups: Lookups,
    *,
    correlation_id: str | None = None,
    email_id: uuid.UUID | None = None,
) -> EmailRows:
    """The rows of one accepted email: suppressed recipients, signature, status, first events."""
    if not request.from_addr:
        raise ValueError("a request reaches the store with its sender filled in")
    email_id = email_id or uuid.uuid4()
    now = utcnow()
    send_at = request.send_at
    scheduled = send_at is not None and send_at > now
    lists = {"to": list(request.to), "cc": list(request.cc), "bcc": list(request.bcc)}
    blocked = {bare_address(a) for v in lists.values() for a in v} & lookups.suppressed
    kept = {k: [a for a in v if bare_address(a) not in blocked] for k, v in lists.items()}
    # Every recipient suppressed: the email ends here, keeping its recipients for the record.
    everyone_blocked = not any(kept.values())
    if not everyone_blocked:
        lists = kept
    sig_html, sig_text = (
        lookups.signatures[request.from_addr] if request.signature else (None, None)
    )
    status = EmailStatus.SCHEDULED if scheduled else EmailStatus.QUEUED
    if everyone_blocked:
        status = EmailStatus.SUPPRESSED
    email = {
        "id": email_id,
        "status": status,
        "from_addr": request.from_addr,
        "to_addrs": lists["to"],
        "cc_addrs": lists["cc"],
        "bcc_addrs": lists["bcc"],
        "reply_to": request.reply_to,
        "subject": rendered.subject,
        "html": rendered.html,
        "text": rendered.text,
        "template_id": request.template_id,
        "template_version": request.template_version,
        "brand_id": request.brand_id,
        "lang": request.lang,
        "variables": dict(request.variables),
        "attachment_keys": list(request.attachments),
        "headers": {**request.headers, **_unsubscribe_headers(request)},
        "brand_styles": bool(request.brand_styles),
        "custom_style": request.custom_style,
        "signature_html": sig_html,
        "signature_text": sig_text,
        "message_id": message_id_for(email_id, request.from_addr),
        "correlation_id": correlation_id,
        "is_test": request.test,
        "providers": list(request.providers) if request.providers else None,
        "track_opens": request.track_opens,
        "track_clicks": request.track_clicks,
        "send_at": send_at,
        "enqueued_at": None if scheduled or everyone_blocked else now,
        "send_tries": 0,
        "created_at": now,
        "updated_at": now,
    }
    recipients: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for kind in ("to", "cc", "bcc"):
        for formatted in getattr(request, kind):
            pair = (bare_address(formatted), kind)
            if pair not in seen:
                seen.add(pair)
                recipients.append({"email_id": email_id, "address": pair[0], "kind": kind})
    tags = [
        {"email_id": email_id, "tag": tag, "position": position}
        for position, tag in enumerate(dict.fromkeys(request.tags))
    ]
    accepted = {"scheduledFor": send_at.isoformat()} if scheduled and send_at else None
    events = [event_row(Event(email_id, EventType.ACCEPTED, detail=accepted, at=now))]
    events.extend(
        event_row(
            Event(
                email_id,
                EventType.SUPPRESSED,
                detail="on the suppression list: not sent to this recipient",
                recipient=address,
                at=now,
            )
        )
        for address in sorted(blocked)
    )
    return EmailRows(email, recipients, tags, events)
