"""The pipeline's compare-and-set writes: a claim is held by one worker at a time."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from models import Email, EmailEvent, EmailStatus, utcnow
from tasks import email_store

LEASE = timedelta(minutes=5)


def make_email(sessions: sessionmaker[Session], **values: object) -> uuid.UUID:
    defaults: dict[str, object] = {
        "from_addr": "a@example.com",
        "to_addrs": ["b@example.com"],
        "cc_addrs": [],
        "bcc_addrs": [],
        "subject": "s",
        "html": "<p>x</p>",
        "variables": {},
        "attachment_keys": [],
        "headers": {},
        "message_id": "<x@example.com>",
    }
    email = Email(**{**defaults, **values})
    with sessions() as session:
        session.add(email)
        session.commit()
        return email.id


def events(sessions: sessionmaker[Session], eid: uuid.UUID) -> list[str]:
    with sessions() as session:
        return list(
            session.scalars(
                select(EmailEvent.type).where(EmailEvent.email_id == eid).order_by(EmailEvent.id)
            )
        )


def test_only_one_claim_wins(sessions: sessionmaker[Session]) -> None:
    eid = make_email(sessions, status=EmailStatus.RENDERED, attachment_manifest=[])
    with sessions() as first, sessions() as second:
        a = email_store.claim_for_send(first, eid, LEASE)
        first.commit()
        b = email_store.claim_for_send(second, eid, LEASE)
        second.commit()
    assert a is not None and a.tries == 1 and not a.reclaimed
    assert b is None
    assert events(sessions, eid) == ["sending"]


def test_no_claim_before_attachments_are_checked(sessions: sessionmaker[Session]) -> None:
    eid = make_email(sessions, status=EmailStatus.RENDERED)
    with sessions() as session:
        assert email_store.claim_for_send(session, eid, LEASE) is None


def test_expired_claim_is_reclaimed_with_an_event(sessions: sessionmaker[Session]) -> None:
    eid = make_email(sessions, status=EmailStatus.RENDERED, attachment_manifest=[])
    with sessions() as session:
        claim = email_store.claim_for_send(session, eid, LEASE)
        session.commit()
    assert claim is not None
    with sessions() as session:
        assert email_store.claim_for_send(session, eid, LEASE) is None  # lease still live
        session.execute(
            update(Email).where(Email.id == eid).values(claimed_at=utcnow() - 2 * LEASE)
        )
        session.commit()
        again = email_store.claim_for_send(session, eid, LEASE)
        session.commit()
    assert again is not None and again.reclaimed and again.tries == 2
    assert events(sessions, eid) == ["sending", "reclaimed"]
    # The first holder's late acceptance is recorded as what it is: a second copy.
    with sessions() as session:
        email_store.mark_sent(
            session, claim, provider="smtp", provider_message_id="m1", rejected={}
        )
        session.commit()
        email = session.get(Email, eid)
        assert email is not None and email.status == EmailStatus.SENT
        sent = session.scalars(select(EmailEvent).where(EmailEvent.type == "sent")).one()
        assert isinstance(sent.detail, dict) and "duplicate" in sent.detail


def test_release_then_retry_claims_again(sessions: sessionmaker[Session]) -> None:
    eid = make_email(sessions, status=EmailStatus.RENDERED, attachment_manifest=[])
    with sessions() as session:
        claim = email_store.claim_for_send(session, eid, LEASE)
        assert claim is not None
        later = utcnow() + timedelta(seconds=30)
        assert email_store.release_claim(session, claim, retry_at=later, pinned_provider="smtp")
        session.commit()
        email = session.get(Email, eid)
        assert email is not None
        assert (email.status, email.pinned_provider) == (EmailStatus.RENDERED, "smtp")
        # A released claim's token no longer moves the row.
        assert not email_store.release_claim(session, claim, retry_at=later)
        second = email_store.claim_for_send(session, eid, LEASE)
        assert second is not None and second.tries == 2


def test_sent_with_rejected_recipients(sessions: sessionmaker[Session]) -> None:
    eid = make_email(sessions, status=EmailStatus.RENDERED, attachment_manifest=[])
    with sessions() as session:
        claim = email_store.claim_for_send(session, eid, LEASE)
        assert claim is not None
        email_store.mark_sent(
            session,
            claim,
            provider="smtp",
            provider_message_id="id-1",
            rejected={"gone@example.com": "550 no such user"},
        )
        session.commit()
        email = session.get(Email, eid)
        assert email is not None and email.status == EmailStatus.SENT
        assert (email.provider, email.provider_message_id, email.claim_token) == (
            "smtp",
            "id-1",
            None,
        )
    assert events(sessions, eid) == ["sending", "sent", "recipient_rejected"]


def test_fail_never_overwrites_a_final_status(sessions: sessionmaker[Session]) -> None:
    eid = make_email(sessions, status=EmailStatus.SENT)
    with sessions() as session:
        assert not email_store.fail(session, eid, "late error")
        session.commit()
        email = session.get(Email, eid)
        assert email is not None and email.status == EmailStatus.SENT


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
        found = set(email_store.stale_in_flight(session, LEASE, 100))
        assert found == {never, stale}
        assert {fresh, retry_later, done}.isdisjoint(found)
        assert email_store.mark_requeued(session, stale, LEASE)
        assert not email_store.mark_requeued(session, stale, LEASE)  # a second sweeper loses
        session.commit()
        assert set(email_store.stale_in_flight(session, LEASE, 100)) == {never}


def test_re_publishes_of_one_email_are_spaced_out(sessions: sessionmaker[Session]) -> None:
    """An email behind a long backlog looks lost to the sweeper: it is re-published after 1,
    then 2, 4 and every 8 leases, not every lease."""
    eid = make_email(sessions, status=EmailStatus.QUEUED, enqueued_at=utcnow() - 2 * LEASE)
    for requeues, leases in enumerate((1, 2, 4, 8, 8), start=1):
        with sessions() as session:
            assert email_store.mark_requeued(session, eid, LEASE)
            session.commit()
            assert eid not in email_store.stale_in_flight(session, LEASE, 100)
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
            assert eid in email_store.stale_in_flight(session, LEASE, 100)


def test_scheduled_emails_are_released_when_due(sessions: sessionmaker[Session]) -> None:
    now = utcnow()
    due = make_email(sessions, status=EmailStatus.SCHEDULED, send_at=now - timedelta(seconds=1))
    future = make_email(sessions, status=EmailStatus.SCHEDULED, send_at=now + timedelta(hours=1))
    with sessions() as session:
        assert email_store.release_due_scheduled(session, 100) == [due]
        session.commit()
        assert email_store.release_due_scheduled(session, 100) == []
        assert session.get(Email, future).status == EmailStatus.SCHEDULED  # type: ignore[union-attr]
    assert events(sessions, due) == ["queued"]
