"""`transition`: the one UPDATE of an email's `status`, for any number of emails at once.

It holds every write to the transition table (`models.status.can_move`), counts the change in
the metrics and writes the status callbacks' deliveries in the same transaction, so callbacks
exist exactly when the change does.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, case, literal, select, update
from sqlalchemy.orm import Session

from mailroom import metrics
from models import EmailStatus, can_move, utcnow
from store.outbox import queue_status_changes
from store.tables import EMAILS, connection


def transition(
    session: Session,
    email_ids: Sequence[uuid.UUID],
    *,
    expected: Iterable[EmailStatus],
    to: EmailStatus | None = None,
    values: Mapping[str, Any] | None = None,
    where: Sequence[ColumnElement[bool]] = (),
    returning: Sequence[Any] = (),
) -> list[Any]:
    """Compare-and-set: move the emails that are in one of `expected` (and match `where`) to
    `to` with `values`; the rows moved, as (id, *returning).

    `expected` states that may not move to `to` are dropped, so no caller can move an email
    backwards. With `to` None the row's other columns change and its status stays.
    """
    allowed = [s for s in expected if to is None or can_move(s, to)]
    if not allowed or not email_ids:
        return []
    changes: dict[str, Any] = {"updated_at": utcnow(), **(values or {})}
    if to is not None:
        changes["status"] = to
    ids = lock_in_order(session, email_ids)
    statement = (
        update(EMAILS)
        .where(EMAILS.c.id.in_(ids), EMAILS.c.status.in_(allowed), *where)
        .values(**changes)
        .returning(EMAILS.c.id, *returning, EMAILS.c.is_test)
    )
    # The mode comes back last, for the metrics and callbacks, and is cut off the rows returned.
    moved = list(connection(session).execute(statement))
    rows = [row[:-1] for row in moved]
    if to is not None and rows:
        test_ids = {row[0] for row in moved if row[-1]}
        for is_test, count in ((False, len(rows) - len(test_ids)), (True, len(test_ids))):
            if count:
                metrics.EMAILS.labels(to.value, metrics.mode(is_test)).inc(count)
        queue_status_changes(session, [row[0] for row in rows], to.value, test_ids)
    return rows


def per_email(
    column: str, values: Mapping[uuid.UUID, Any], among: Sequence[uuid.UUID] | None = None
) -> Any:
    """A value that differs per email, for `transition`'s `values`: the email's own value
    where `values` has none. `among` are the emails the UPDATE moves (default: those of
    `values`); one plain value serves when every one of them gets the same."""
    target = EMAILS.c[column]
    first = next(iter(values.values()))
    covers = among is None or set(among) <= values.keys()
    if covers and all(value == first for value in values.values()):
        return literal(first, target.type)
    return case(
        *(
            (EMAILS.c.id == literal(email_id, EMAILS.c.id.type), literal(value, target.type))
            for email_id, value in values.items()
        ),
        else_=target,
    )


def lock_in_order(session: Session, email_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    """The ids sorted, their rows locked in that order when there are several: two writers of
    overlapping sets then wait for each other instead of deadlocking (an UPDATE locks in scan
    order). SQLite has no row locks; its transactions begin IMMEDIATE, one writer at a time."""
    ids = sorted(set(email_ids))
    held = _locked(session)
    if len(ids) > 1 and not held.issuperset(ids):
        connection(session).execute(
            select(EMAILS.c.id).where(EMAILS.c.id.in_(ids)).order_by(EMAILS.c.id).with_for_update()
        ).all()
        held.update(ids)
    return ids


def _locked(session: Session) -> set[uuid.UUID]:
    """The rows this session's current transaction has locked: a lock is held until the
    transaction ends, so a set of rows needs locking once per transaction, not per statement."""
    transaction = session.get_transaction()
    remembered = session.info.get(_LOCKED)
    if remembered is None or remembered[0] is not transaction:
        remembered = (transaction, set())
        session.info[_LOCKED] = remembered
    held: set[uuid.UUID] = remembered[1]
    return held


_LOCKED = "mailroom.locked_rows"
