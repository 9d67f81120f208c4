"""Send claims: the right to call providers for an email, taken before any provider call.

A claim moves the email to `sending` under a fresh token; an acceptance is recorded under that
token, and a retry gives it back. A claim whose lease ran out (its worker died, possibly after
a provider accepted the message) may be taken over, and the `reclaimed` event says so.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from models import EmailStatus, EventType, utcnow
from store.events import Event, add_events
from store.tables import EMAILS
from store.transitions import transition


@dataclass(frozen=True)
class Claim:
    """The right to call providers for one email, held until `token` is released."""

    email_id: uuid.UUID
    token: uuid.UUID
    tries: int
    reclaimed: bool


def claim(
    session: Session, email_ids: Sequence[uuid.UUID], lease: timedelta, *, first_try: bool = False
) -> list[Claim]:
    """Claim every email of `email_ids` that is ready to send: `rendered` with its attachments
    described, or `sending` under a claim whose lease ran out. With `first_try`, a rendered
    email only if it was never tried (a batch leaves the others to their own retry chains).
    In id order."""
    now = utcnow()
    token = uuid.uuid4()
    values = {"claim_token": token, "claimed_at": now, "enqueued_at": now}
    values["send_tries"] = EMAILS.c.send_tries + 1
    ready: list[ColumnElement[bool]] = [EMAILS.c.attachment_manifest.is_not(None)]
    if first_try:
        ready.append(EMAILS.c.send_tries == 0)
    ids = sorted(set(email_ids))
    fresh = transition(
        session,
        ids,
        expected=[EmailStatus.RENDERED],
        to=EmailStatus.SENDING,
        values=values,
        where=ready,
        returning=[EMAILS.c.send_tries],
    )
    claims = [Claim(row[0], token, row[1], reclaimed=False) for row in fresh]
    rest = [eid for eid in ids if eid not in {c.email_id for c in claims}]
    if rest:
        claims += _reclaim(session, rest, now - lease, values, ready[:1])
    add_events(
        session,
        [
            Event(c.email_id, EventType.SENDING, detail={"try": c.tries}, at=now)
            for c in claims
            if not c.reclaimed
        ],
    )
    return sorted(claims, key=lambda c: c.email_id)


def _reclaim(
    session: Session,
    email_ids: Sequence[uuid.UUID],
    expired_before: datetime,
    values: dict[str, object],
    ready: list[ColumnElement[bool]],
) -> list[Claim]:
    """Take over the claims of `email_ids` whose lease ran out."""
    rows = transition(
        session,
        email_ids,
        expected=[EmailStatus.SENDING],
        to=EmailStatus.SENDING,
        values=values,
        where=[*ready, EMAILS.c.claimed_at < expired_before],
        returning=[EMAILS.c.send_tries, EMAILS.c.claim_token],
    )
    add_events(
        session,
        [
            Event(
                row[0],
                EventType.RECLAIMED,
                detail="the previous send claim expired (its worker died); "
                "a provider may already have accepted this message",
            )
            for row in rows
        ],
    )
    token = values["claim_token"]
    assert isinstance(token, uuid.UUID)
    return [Claim(row[0], token, row[1], reclaimed=True) for row in rows]


def release(
    session: Session,
    claims: Sequence[Claim],
    *,
    retry_at: datetime,
    reason: str | None = None,
    pinned_provider: str | None = None,
    refund_try: bool = False,
) -> list[uuid.UUID]:
    """Give the claims back so a later try can take them; the sweeper waits until `retry_at`.
    With `refund_try`, the try the claim counted was not made (throttled) and does not count.
    The emails released (a claim taken over meanwhile is not ours to give back)."""
    values: dict[str, object] = {
        "claim_token": None,
        "enqueued_at": retry_at,
        "last_error": reason,
    }
    if refund_try:
        values["send_tries"] = EMAILS.c.send_tries - 1
    if pinned_provider is not None:
        values["pinned_provider"] = pinned_provider
    rows = transition(
        session,
        [c.email_id for c in claims],
        expected=[EmailStatus.SENDING],
        to=EmailStatus.RENDERED,
        values=values,
        where=[EMAILS.c.claim_token.in_({c.token for c in claims})],
    )
    return [row[0] for row in rows]


def held_elsewhere(
    session: Session, email_ids: Sequence[uuid.UUID], lease: timedelta
) -> dict[uuid.UUID, float]:
    """Emails of `email_ids` sending under a claim still within its lease: the seconds until
    each lease runs out (when a redelivered task may take the claim over)."""
    now = utcnow()
    rows = session.execute(
        select(EMAILS.c.id, EMAILS.c.claimed_at).where(
            EMAILS.c.id.in_(list(email_ids)),
            EMAILS.c.status == EmailStatus.SENDING,
            EMAILS.c.claimed_at >= now - lease,
        )
    )
    return {row.id: max(0.0, (row.claimed_at + lease - now).total_seconds()) for row in rows}


def renew(session: Session, claims: Sequence[Claim]) -> None:
    """Restart the lease of claims still held: a group whose sends run long keeps its claims
    on the emails it has not sent yet."""
    if not claims:
        return
    session.execute(
        update(EMAILS)
        .where(
            EMAILS.c.id.in_([c.email_id for c in claims]),
            EMAILS.c.status == EmailStatus.SENDING,
            EMAILS.c.claim_token.in_({c.token for c in claims}),
        )
        .values(claimed_at=utcnow())
    )
