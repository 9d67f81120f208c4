"""The pipeline's database writes: each step claims its row with a conditional UPDATE.

Every function takes an open session and leaves committing to the caller, so a step's status
change and its event land in one transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, CursorResult, case, insert, literal, or_, select, update
from sqlalchemy.orm import Session

from mailroom import metrics
from models import (
    FINAL_STATUSES,
    IN_FLIGHT_STATUSES,
    Email,
    EmailEvent,
    EmailStatus,
    EventType,
    SendAttempt,
    can_move,
    utcnow,
)
from models.db import table_of
from tasks import callbacks

# The pipeline writes through Core on the session's connection: ORM-enabled statements would
# add their bookkeeping (and an autoflush) to every write of every step, for objects nobody
# reads back.
_EMAILS = table_of(Email)
_EVENTS = table_of(EmailEvent)
_ATTEMPTS = table_of(SendAttempt)


def add_event(
    session: Session,
    email_id: uuid.UUID,
    type_: EventType | str,
    *,
    detail: Any = None,
    recipient: str | None = None,
    provider: str | None = None,
    at: datetime | None = None,
) -> None:
    """Append one event to the email's history."""
    _connection(session).execute(
        insert(_EVENTS),
        {
            "email_id": email_id,
            "type": str(type_),
            "detail": detail,
            "recipient": recipient,
            "provider": provider,
            "at": at or utcnow(),
        },
    )


def _connection(session: Session) -> Connection:
    """The session's connection, after flushing any pending ORM changes: what an ORM
    statement's autoflush would do, so a Core write here sees the caller's objects."""
    if session.new or session.dirty or session.deleted:
        session.flush()
    return session.connection()


def _rowcount(result: Any) -> int:
    assert isinstance(result, CursorResult)
    return int(result.rowcount)


def transition(
    session: Session,
    email_id: uuid.UUID,
    *,
    expected: Iterable[EmailStatus],
    values: dict[str, Any],
    extra_where: Sequence[Any] = (),
) -> bool:
    """Compare-and-set: apply `values` only while the email is in one of `expected` states.

    A status change is also held to the transition table: `expected` states that may not move
    to the new status are dropped, so no caller can move an email backwards.
    """
    return _set(session, email_id, expected, values, extra_where) is not None


def _set(
    session: Session,
    email_id: uuid.UUID,
    expected: Iterable[EmailStatus],
    values: dict[str, Any],
    extra_where: Sequence[Any],
    returning: Sequence[Any] = (),
) -> Any:
    """`transition`'s UPDATE; the row of `returning` (an empty one without), or None when the
    email was not in an expected state."""
    allowed = list(expected)
    if "status" in values:
        allowed = [s for s in allowed if can_move(s, values["status"])]
        if not allowed:
            return None
    stmt = (
        update(_EMAILS)
        .where(_EMAILS.c.id == email_id, _EMAILS.c.status.in_(allowed), *extra_where)
        .values(updated_at=utcnow(), **values)
    )
    result = _connection(session).execute(stmt.returning(*returning) if returning else stmt)
    row = result.one_or_none() if returning else (() if _rowcount(result) == 1 else None)
    if row is not None and "status" in values:
        metrics.EMAILS.labels(str(values["status"])).inc()
        # Same transaction: the caller's callbacks exist exactly when the change does.
        callbacks.queue_status_change(session, email_id, str(values["status"]))
    return row


def fail(session: Session, email_id: uuid.UUID, reason: str) -> bool:
    """Move a not-yet-final email to `failed`, recording why."""
    changed = transition(
        session,
        email_id,
        expected=set(EmailStatus) - FINAL_STATUSES,
        values={"status": EmailStatus.FAILED, "last_error": reason, "claim_token": None},
    )
    if changed:
        add_event(session, email_id, EventType.FAILED, detail=reason)
    return changed


@dataclass(frozen=True)
class Claim:
    """The right to call providers for one email, held until `token` is released."""

    email_id: uuid.UUID
    token: uuid.UUID
    tries: int
    reclaimed: bool


def claim_for_send(session: Session, email_id: uuid.UUID, lease: timedelta) -> Claim | None:
    """Take the send claim: from `rendered`, or from `sending` whose holder's lease ran out.

    A lease that ran out means a worker died while it held the claim, possibly after a provider
    accepted the message: sending again may duplicate it, and the `reclaimed` event says so.
    The usual case, a rendered email, is one UPDATE; only when that finds nothing is the row
    read to see whether an expired claim can be taken over.
    """
    now = utcnow()
    token = uuid.uuid4()
    values = {
        "status": EmailStatus.SENDING,
        "claim_token": token,
        "claimed_at": now,
        "enqueued_at": now,
        "send_tries": Email.send_tries + 1,
    }
    fresh = _set(
        session,
        email_id,
        [EmailStatus.RENDERED],
        values,
        [Email.attachment_manifest.is_not(None)],
        returning=[Email.send_tries],
    )
    if fresh is not None:
        add_event(session, email_id, EventType.SENDING, detail={"try": fresh.send_tries})
        return Claim(email_id, token, fresh.send_tries, reclaimed=False)
    row = session.execute(
        select(Email.status, Email.claimed_at, Email.send_tries, Email.attachment_manifest).where(
            Email.id == email_id
        )
    ).one_or_none()
    if row is None or row.attachment_manifest is None:
        return None
    if row.status == EmailStatus.SENDING and row.claimed_at and row.claimed_at < now - lease:
        if not transition(
            session,
            email_id,
            expected=[EmailStatus.SENDING],
            values=values,
            extra_where=[Email.claimed_at == row.claimed_at],
        ):
            return None
        add_event(
            session,
            email_id,
            EventType.RECLAIMED,
            detail="the previous send claim expired (its worker died); "
            "a provider may already have accepted this message",
        )
        return Claim(email_id, token, row.send_tries + 1, reclaimed=True)
    return None


def release_claim(
    session: Session,
    claim: Claim,
    *,
    retry_at: datetime,
    pinned_provider: str | None = None,
    reason: str | None = None,
) -> bool:
    """Give the claim back so a later try can take it; the sweeper waits until `retry_at`."""
    values: dict[str, Any] = {
        "status": EmailStatus.RENDERED,
        "claim_token": None,
        "enqueued_at": retry_at,
        "last_error": reason,
    }
    if pinned_provider is not None:
        values["pinned_provider"] = pinned_provider
    return transition(
        session,
        claim.email_id,
        expected=[EmailStatus.SENDING],
        values=values,
        extra_where=[Email.claim_token == claim.token],
    )


def record_attempts(session: Session, email_id: uuid.UUID, attempts: Iterable[Any]) -> None:
    """Store every provider attempt of one failover walk."""
    rows = [
        {
            "email_id": email_id,
            "provider": attempt.provider,
            "outcome": attempt.outcome,
            "error_kind": attempt.kind,
            "error": attempt.error,
            "at": attempt.at,
            "duration_ms": round(attempt.duration_seconds * 1000, 3),
        }
        for attempt in attempts
    ]
    if rows:
        _connection(session).execute(insert(_ATTEMPTS), rows)


def mark_sent(
    session: Session,
    claim: Claim,
    *,
    provider: str,
    provider_message_id: str,
    rejected: dict[str, str],
) -> None:
    """Record a provider's acceptance; rejected recipients become events of their own."""
    values = {
        "status": EmailStatus.SENT,
        "provider": provider,
        "provider_message_id": provider_message_id,
        "claim_token": None,
        "pinned_provider": None,
        "last_error": None,
    }
    held = transition(
        session,
        claim.email_id,
        expected=[EmailStatus.SENDING],
        values=values,
        extra_where=[Email.claim_token == claim.token],
    )
    detail: dict[str, Any] = {"providerMessageId": provider_message_id}
    if not held:
        # Our lease ran out mid-send and another worker reclaimed the row: this acceptance is
        # a second copy. Keep the record truthful, and still end the email if nobody else did.
        detail["duplicate"] = "the send claim was lost before this acceptance was recorded"
        transition(session, claim.email_id, expected=IN_FLIGHT_STATUSES, values=values)
    add_event(session, claim.email_id, EventType.SENT, provider=provider, detail=detail)
    for address, reason in rejected.items():
        add_event(
            session,
            claim.email_id,
            EventType.RECIPIENT_REJECTED,
            recipient=address,
            provider=provider,
            detail=reason,
        )


def mark_recorded(session: Session, email_id: uuid.UUID) -> Any:
    """Note that the email's final status has been recorded, unless it already was: the row's
    `status`, `provider` and `send_tries` when this call did it, else None (not final yet, or
    recorded already)."""
    return _set(
        session,
        email_id,
        FINAL_STATUSES,
        {"recorded_status": _EMAILS.c.status},
        [or_(_EMAILS.c.recorded_status.is_(None), _EMAILS.c.recorded_status != _EMAILS.c.status)],
        returning=[Email.status, Email.provider, Email.send_tries],
    )


def stale_in_flight(session: Session, lease: timedelta, limit: int) -> list[uuid.UUID]:
    """Emails the pipeline should have finished with by now: published a lease ago or never."""
    cutoff = utcnow() - lease
    rows = session.scalars(
        select(Email.id)
        .where(
            Email.status.in_(list(IN_FLIGHT_STATUSES)),
            or_(Email.enqueued_at.is_(None), Email.enqueued_at < cutoff),
        )
        .order_by(Email.created_at)
        .limit(limit)
    )
    return list(rows)


def release_due_scheduled(session: Session, limit: int) -> list[uuid.UUID]:
    """Move scheduled emails whose time has come to `queued`; the ids to publish."""
    now = utcnow()
    due = list(
        session.scalars(
            select(Email.id)
            .where(Email.status == EmailStatus.SCHEDULED, Email.send_at <= now)
            .order_by(Email.send_at)
            .limit(limit)
        )
    )
    return [email_id for email_id in due if release_scheduled(session, email_id)]


def release_scheduled(session: Session, email_id: uuid.UUID) -> bool:
    """scheduled -> queued, once its time has come."""
    now = utcnow()
    if transition(
        session,
        email_id,
        expected=[EmailStatus.SCHEDULED],
        values={"status": EmailStatus.QUEUED, "enqueued_at": now},
        extra_where=[Email.send_at <= now],
    ):
        add_event(session, email_id, EventType.QUEUED, detail="scheduled time reached")
        return True
    return False


def cancel_scheduled(session: Session, email_id: uuid.UUID) -> bool:
    """scheduled -> failed with a `cancelled` event, while it has not started."""
    if transition(
        session,
        email_id,
        expected=[EmailStatus.SCHEDULED],
        values={"status": EmailStatus.FAILED, "last_error": "cancelled"},
    ):
        add_event(session, email_id, EventType.CANCELLED, detail="cancelled before its time")
        return True
    return False


# Re-publishes of one email are spaced 1, 2, 4, then every 8 leases: an email waiting behind a
# backlog longer than the lease cannot tell the sweeper from a lost one, and re-publishing every
# such email every lease would feed the backlog that made it late.
REQUEUE_SPACING = (1, 2, 4, 8)


def mark_requeued(session: Session, email_id: uuid.UUID, lease: timedelta) -> bool:
    """Stamp a stale email as re-published now, unless another sweeper got there first.

    Its next re-publish is due after `REQUEUE_SPACING[requeues]` leases: `enqueued_at` (when
    the sweeper may step in once a lease has passed) is set that many leases minus one ahead.
    """
    now = utcnow()
    column = _EMAILS.c.enqueued_at
    due_after = case(
        *(
            (_EMAILS.c.requeues == n, literal(now + (leases - 1) * lease, column.type))
            for n, leases in enumerate(REQUEUE_SPACING[:-1])
        ),
        else_=literal(now + (REQUEUE_SPACING[-1] - 1) * lease, column.type),
    )
    changed = transition(
        session,
        email_id,
        expected=IN_FLIGHT_STATUSES,
        values={"enqueued_at": due_after, "requeues": _EMAILS.c.requeues + 1},
        extra_where=[or_(column.is_(None), column < now - lease)],
    )
    if changed:
        add_event(session, email_id, EventType.REQUEUED, detail="re-published by the sweeper")
    return changed


def forget_publish(session: Session, email_ids: Iterable[uuid.UUID]) -> None:
    """After a failed publish: make the emails due for the sweeper's next run at once."""
    session.execute(
        update(Email)
        .where(Email.id.in_(list(email_ids)), Email.status.in_(list(IN_FLIGHT_STATUSES)))
        .values(enqueued_at=None)
        .execution_options(synchronize_session=False)
    )
