"""When emails are due: the sweeper's stale selection and spaced re-publishes, scheduled
release and cancellation, and what a failed publish leaves for the sweeper."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from models import Email, EmailStatus, utcnow
from store.schedule import (
    cancel_scheduled,
    forget_publish,
    mark_requeued,
    release_due_scheduled,
    release_scheduled,
    stale_in_flight,
)
from tests.store.emails import LEASE, event_types, make_email, row


def test_sweeper_picks_only_stale_in_flight_rows(sessions: sessionmaker[Session]) -> None:
    now = utcnow()
    fresh = make_email(sessions, status=EmailStatus.QUEUED, enqueued_at=now)
    never = make_email(sessions, status=EmailStatus.QUEUED, enqueued_at=None)
    stale = make_email(sessions, status=EmailStatus.SENDING, enqueued_at=now - 2 * LEASE)
    retry_later = make_email(
        sessions, status=EmailStatus.RENDERED, enqueued_at=now + timedelta(minutes=1)
    )
    done = make_email(sessions, status=EmailStatus.SENT, enqueued_at=now - 2 * LEASE)
    with sessions() as session:
        found = set(stale_in_flight(session, LEASE, 100))
        assert found == {never, stale}
        assert {fresh, retry_later, done}.isdisjoint(found)
        # Only the stale ones of a list move; a second sweeper loses.
        assert sorted(mark_requeued(session, [stale, fresh, done], LEASE)) == [stale]
        assert mark_requeued(session, [stale], LEASE) == []
        session.commit()
        assert set(stale_in_flight(session, LEASE, 100)) == {never}
        assert mark_requeued(session, [never], LEASE) == [never]
        session.commit()
    assert event_types(sessions, stale) == ["requeued"]
    assert event_types(sessions, never) == ["requeued"]
    assert event_types(sessions, fresh) == event_types(sessions, done) == []


def test_re_publishes_of_one_email_are_spaced_out(sessions: sessionmaker[Session]) -> None:
    """An email behind a long backlog looks lost to the sweeper: it is re-published after 1,
    then 2, 4 and every 8 leases, not every lease."""
    eid = make_email(sessions, status=EmailStatus.QUEUED, enqueued_at=utcnow() - 2 * LEASE)
    for requeues, leases in enumerate((1, 2, 4, 8, 8), start=1):
        with sessions() as session:
            assert mark_requeued(session, [eid], LEASE) == [eid]
            session.commit()
            assert eid not in stale_in_flight(session, LEASE, 100)
            email = session.get(Email, eid)
            assert email is not None and email.requeues == requeues
            assert email.enqueued_at is not None
            stale_at = email.enqueued_at + LEASE
            assert leases * LEASE - timedelta(minutes=1) < stale_at - utcnow() <= leases * LEASE
            # Let that time pass: it is stale again.
            session.execute(
                update(Email)
                .where(Email.id == eid)
                .values(enqueued_at=utcnow() - LEASE - timedelta(seconds=1))
            )
            session.commit()
            assert eid in stale_in_flight(session, LEASE, 100)


def test_spacing_follows_each_emails_own_count(sessions: sessionmaker[Session]) -> None:
    """One statement re-publishes emails with different histories: each is spaced by its own."""
    long_ago = utcnow() - 2 * LEASE
    first = make_email(sessions, status=EmailStatus.QUEUED, enqueued_at=long_ago)
    third = make_email(sessions, status=EmailStatus.QUEUED, enqueued_at=long_ago, requeues=2)
    with sessions() as session, session.begin():
        assert sorted(mark_requeued(session, [first, third], LEASE)) == sorted([first, third])
    now = utcnow()
    for eid, requeues, leases in ((first, 1, 1), (third, 3, 4)):
        email = row(sessions, eid)
        assert email.requeues == requeues and email.enqueued_at is not None
        stale_at = email.enqueued_at + LEASE
        assert leases * LEASE - timedelta(minutes=1) < stale_at - now <= leases * LEASE


def test_scheduled_emails_are_released_when_due(sessions: sessionmaker[Session]) -> None:
    now = utcnow()
    due = make_email(sessions, status=EmailStatus.SCHEDULED, send_at=now - timedelta(seconds=1))
    future = make_email(sessions, status=EmailStatus.SCHEDULED, send_at=now + timedelta(hours=1))
    with sessions() as session:
        assert release_due_scheduled(session, 100) == [due]
        session.commit()
        assert release_due_scheduled(session, 100) == []
        # Asked by name, one not due yet stays.
        assert release_scheduled(session, [future, due]) == []
        session.commit()
    assert row(sessions, future).status == EmailStatus.SCHEDULED
    released = row(sessions, due)
    assert released.status == EmailStatus.QUEUED and released.enqueued_at is not None
    assert event_types(sessions, due) == ["queued"]
    assert event_types(sessions, future) == []


def test_only_emails_that_have_not_started_are_cancelled(sessions: sessionmaker[Session]) -> None:
    later = utcnow() + timedelta(hours=1)
    waiting = make_email(sessions, status=EmailStatus.SCHEDULED, send_at=later)
    started = make_email(sessions, status=EmailStatus.QUEUED, send_at=utcnow())
    with sessions() as session, session.begin():
        assert cancel_scheduled(session, [waiting, started]) == [waiting]
    cancelled = row(sessions, waiting)
    assert (cancelled.status, cancelled.last_error) == (EmailStatus.FAILED, "cancelled")
    assert event_types(sessions, waiting) == ["cancelled"]
    assert row(sessions, started).status == EmailStatus.QUEUED
    with sessions() as session, session.begin():
        assert cancel_scheduled(session, [waiting]) == []


def test_a_failed_publish_makes_in_flight_emails_due_at_once(
    sessions: sessionmaker[Session],
) -> None:
    now = utcnow()
    queued = make_email(sessions, status=EmailStatus.QUEUED, enqueued_at=now)
    sent = make_email(sessions, status=EmailStatus.SENT, enqueued_at=now)
    with sessions() as session, session.begin():
        forget_publish(session, [queued, sent])
    with sessions() as session:
        assert stale_in_flight(session, LEASE, 100) == [queued]
    assert row(sessions, sent).enqueued_at is not None
