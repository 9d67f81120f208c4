"""How a send ended: sent, failed, and the outcome record that callbacks and metrics hang off."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_
from sqlalchemy.orm import Session

from models import FINAL_STATUSES, IN_FLIGHT_STATUSES, EmailStatus, EventType, utcnow
from store.claims import Claim
from store.events import Event, add_events
from store.tables import EMAILS
from store.transitions import per_email, transition

NOT_FINAL = frozenset(EmailStatus) - FINAL_STATUSES
LOST_CLAIM = "the send claim was lost before this acceptance was recorded"


@dataclass(frozen=True)
class Acceptance:
    """A provider's acceptance of one claimed email."""

    claim: Claim
    provider: str
    message_id: str
    rejected: Mapping[str, str] = field(default_factory=dict)


def mark_sent(session: Session, accepted: Sequence[Acceptance], *, record: bool = False) -> None:
    """Record acceptances: `sending` -> `sent` under the claim each was sent with; with
    `record`, the outcome record is written in the same statement (a batch has no
    record_status step). Rejected recipients become events of their own.

    An acceptance whose claim was taken over (its lease ran out mid-send) is a second copy:
    it is recorded as such, and still ends the email if nobody else did.
    """
    if not accepted:
        return
    now = utcnow()
    by_id = {a.claim.email_id: a for a in accepted}
    values: dict[str, Any] = {
        "provider": per_email("provider", {i: a.provider for i, a in by_id.items()}),
        "provider_message_id": per_email(
            "provider_message_id", {i: a.message_id for i, a in by_id.items()}
        ),
        "claim_token": None,
        "pinned_provider": None,
        "last_error": None,
    }
    if record:
        values["recorded_status"] = EmailStatus.SENT.value
    held = transition(
        session,
        list(by_id),
        expected=[EmailStatus.SENDING],
        to=EmailStatus.SENT,
        values=values,
        where=[EMAILS.c.claim_token.in_({a.claim.token for a in accepted})],
        returning=[EMAILS.c.send_tries],
    )
    tries = {row[0]: row[1] for row in held}
    lost = [eid for eid in by_id if eid not in tries]
    if lost:
        later = transition(
            session,
            lost,
            expected=IN_FLIGHT_STATUSES,
            to=EmailStatus.SENT,
            values=values,
            returning=[EMAILS.c.send_tries],
        )
        tries.update({row[0]: row[1] for row in later})
    events: list[Event] = []
    for eid, a in by_id.items():
        detail: dict[str, Any] = {"providerMessageId": a.message_id}
        if eid in lost:
            detail["duplicate"] = LOST_CLAIM
        events.append(Event(eid, EventType.SENT, detail=detail, provider=a.provider, at=now))
        events.extend(
            Event(eid, EventType.RECIPIENT_REJECTED, reason, address, a.provider, now)
            for address, reason in a.rejected.items()
        )
        if record and eid in tries:
            detail = {"status": "sent", "tries": tries[eid]}
            events.append(Event(eid, EventType.RECORDED, detail, provider=a.provider, at=now))
    add_events(session, events)


def fail(
    session: Session, reasons: Mapping[uuid.UUID, str], *, record: bool = False
) -> list[uuid.UUID]:
    """Move not-yet-final emails to `failed`, each with its reason; with `record`, write the
    outcome record too. The emails that moved."""
    if not reasons:
        return []
    values: dict[str, Any] = {"last_error": per_email("last_error", reasons), "claim_token": None}
    if record:
        values["recorded_status"] = EmailStatus.FAILED.value
    rows = transition(
        session,
        list(reasons),
        expected=NOT_FINAL,
        to=EmailStatus.FAILED,
        values=values,
        returning=[EMAILS.c.send_tries],
    )
    now = utcnow()
    events = [Event(row[0], EventType.FAILED, detail=reasons[row[0]], at=now) for row in rows]
    if record:
        events += [
            Event(row[0], EventType.RECORDED, {"status": "failed", "tries": row[1]}, at=now)
            for row in rows
        ]
    add_events(session, events)
    return [row[0] for row in rows]


def mark_recorded(session: Session, email_ids: Sequence[uuid.UUID]) -> list[Any]:
    """Write the outcome record of each final email not recorded yet at its status: the rows
    (id, status, provider, send_tries) this call recorded."""
    rows = transition(
        session,
        email_ids,
        expected=FINAL_STATUSES,
        values={"recorded_status": EMAILS.c.status},
        where=[
            or_(EMAILS.c.recorded_status.is_(None), EMAILS.c.recorded_status != EMAILS.c.status)
        ],
        returning=[EMAILS.c.status, EMAILS.c.provider, EMAILS.c.send_tries],
    )
    add_events(
        session,
        [
            Event(
                row[0],
                EventType.RECORDED,
                detail={"status": EmailStatus(row[1]).value, "tries": row[3]},
                provider=row[2],
            )
            for row in rows
        ],
    )
    return rows
