"""Provider news about sent emails: events per recipient, and the email's summary status.

An email's status after `sent` summarises its recipients' outcomes and only moves up
(sent < delivered < bounced < complained), so a late or repeated event never moves it
backwards; every event is still recorded. A provider event id is stored once: a webhook the
provider sends twice changes nothing the second time.

An event suppresses only an address the referenced email was sent to: a signed webhook proves
who sent it, not that the address it names is one of ours, and a provider account can be shared
with other senders (or its events forged with a leaked key) to name anyone.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import EmailRecipient, EmailStatus
from providers.events.model import CONTRACT_STATUS, FINAL_TYPES, DeliveryEvent
from store.suppressions import suppress
from store.tables import EMAILS, EVENTS, connection
from store.transitions import transition

log = logging.getLogger(__name__)

# What puts an address on the suppression list (a recipient who unsubscribed through one
# provider's link must not be mailed by the next one after a failover).
SUPPRESSING = {"bounced": "hard_bounce", "complained": "complaint", "unsubscribed": "unsubscribe"}


@dataclass
class Applied:
    """What a batch of provider events did."""

    recorded: int = 0
    duplicates: int = 0
    unknown: int = 0
    status_changes: int = 0


def apply_events(session: Session, events: Iterable[DeliveryEvent]) -> Applied:
    """Record each event on its email; update statuses and the suppression list. No commit."""
    applied = Applied()
    for event in events:
        email = (
            connection(session)
            .execute(
                select(EMAILS.c.id, EMAILS.c.status)
                .where(
                    EMAILS.c.provider_message_id == event.provider_message_id,
                    EMAILS.c.provider == event.provider,
                )
                # Held until commit: news of one email arriving at once is applied one
                # after the other, each seeing the other's status and events.
                .with_for_update()
            )
            .first()
        )
        if email is None:
            applied.unknown += 1
            continue
        if not _record(session, email, event):
            applied.duplicates += 1
            continue
        applied.recorded += 1
        if (
            event.type in SUPPRESSING
            and event.recipient
            and (event.type != "bounced" or event.permanent)
            and _was_sent_to(session, email.id, event.recipient)
        ):
            suppress(
                session,
                event.recipient,
                reason=SUPPRESSING[event.type],
                source=event.provider,
                detail=str(event.detail.get("diagnosticCode") or event.detail.get("reason") or "")
                or None,
                email_id=email.id,
            )
        new_status = _summary(session, email.id)
        if new_status is not None and transition(
            session, [email.id], expected=[EmailStatus(email.status)], to=new_status
        ):
            applied.status_changes += 1
    return applied


def _was_sent_to(session: Session, email_id: uuid.UUID, address: str) -> bool:
    """Whether `address` is one of the email's to, cc or bcc recipients."""
    found = session.scalar(
        select(EmailRecipient.address)
        .where(
            EmailRecipient.email_id == email_id,
            EmailRecipient.address == address.strip().lower(),
        )
        .limit(1)
    )
    return found is not None


def _record(session: Session, email: Any, event: DeliveryEvent) -> bool:
    """Insert the event once; False when this provider event was already recorded."""
    event_id = f"{event.provider}:{event.event_id}" if event.event_id else None
    if event_id is not None:
        exists = session.scalar(select(EVENTS.c.id).where(EVENTS.c.provider_event_id == event_id))
        if exists is not None:
            return False
    row = {
        "email_id": email.id,
        "type": event.type,
        "at": event.at,
        "recipient": event.recipient,
        "provider": event.provider,
        "detail": dict(event.detail) or None,
        "provider_event_id": event_id,
    }
    try:
        with session.begin_nested():
            connection(session).execute(insert(EVENTS), row)
    except IntegrityError:  # a concurrent delivery of the same webhook got there first
        return False
    return True


def _summary(session: Session, email_id: uuid.UUID) -> EmailStatus | None:
    """The status the recipients' final outcomes point to, or None for no change."""
    finals: dict[str, str] = {}
    rows = session.execute(
        select(EVENTS.c.recipient, EVENTS.c.type)
        .where(EVENTS.c.email_id == email_id, EVENTS.c.type.in_(list(FINAL_TYPES)))
        .order_by(EVENTS.c.id)
    )
    rank = {"rejected": 0, "dropped": 0, "delivered": 1, "bounced": 2, "complained": 3}
    for recipient, type_ in rows:
        key = (recipient or "").lower()
        if rank[type_] >= rank.get(finals.get(key, ""), -1):
            finals[key] = type_
    if not finals:
        return None
    best = max(finals.values(), key=lambda t: rank[t])
    if rank[best] == 0:
        # Refused by the provider: the email failed only if no recipient got it at all.
        recipients = session.scalars(
            select(EmailRecipient.address).where(EmailRecipient.email_id == email_id)
        )
        if set(recipients) <= set(finals):
            return EmailStatus.FAILED
        return None
    return EmailStatus(CONTRACT_STATUS[best])
