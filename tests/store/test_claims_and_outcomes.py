"""Claims and outcomes: one worker at a time calls providers for an email, and what it learns
is recorded under its claim, for a list of emails as for one."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from models import Email, EmailStatus, utcnow
from store.claims import Claim, claim, release
from store.outcomes import LOST_CLAIM, Acceptance, fail, mark_recorded, mark_sent
from tests.store.emails import LEASE, event_types, events_of, make_email, row, rows


def ready(sessions: sessionmaker[Session], count: int = 1, **values: object) -> list[uuid.UUID]:
    """Rendered emails with their attachments described: ready to be claimed."""
    return [
        make_email(sessions, status=EmailStatus.RENDERED, attachment_manifest=[], **values)
        for _ in range(count)
    ]


def test_only_one_claim_wins(sessions: sessionmaker[Session]) -> None:
    (eid,) = ready(sessions)
    with sessions() as first, sessions() as second:
        a = claim(first, [eid], LEASE)
        first.commit()
        b = claim(second, [eid], LEASE)
        second.commit()
    assert [(c.email_id, c.tries, c.reclaimed) for c in a] == [(eid, 1, False)]
    assert b == []
    assert event_types(sessions, eid) == ["sending"]
    email = row(sessions, eid)
    assert (email.status, email.claim_token, email.send_tries) == (
        EmailStatus.SENDING,
        a[0].token,
        1,
    )


def test_overlapping_claims_wait_for_each_other_and_split_the_emails(
    sessions: sessionmaker[Session],
) -> None:
    """A second claimer of an overlapping set waits for the first (a row lock on PostgreSQL,
    the write lock on SQLite) and then takes only what the first left."""
    a, b, c = sorted(ready(sessions, 3))
    second: list[list[Claim]] = []
    with sessions() as holder:
        first = claim(holder, [b, a], LEASE)
        worker = threading.Thread(target=lambda: second.append(_claim_and_commit(sessions, [c, b])))
        worker.start()
        worker.join(timeout=1)
        assert worker.is_alive(), "the second claim must wait for the first to commit"
        holder.commit()
    worker.join(timeout=30)
    assert [x.email_id for x in first] == [a, b]
    assert [x.email_id for x in second[0]] == [c]
    tokens = {eid: e.claim_token for eid, e in rows(sessions, [a, b, c]).items()}
    assert tokens == {a: first[0].token, b: first[0].token, c: second[0][0].token}
    assert all(event_types(sessions, eid) == ["sending"] for eid in (a, b, c))


def _claim_and_commit(sessions: sessionmaker[Session], ids: list[uuid.UUID]) -> list[Claim]:
    with sessions() as session, session.begin():
        return claim(session, ids, LEASE)


def test_no_claim_before_attachments_are_described(sessions: sessionmaker[Session]) -> None:
    eid = make_email(sessions, status=EmailStatus.RENDERED)
    described = ready(sessions)
    with sessions() as session, session.begin():
        claims = claim(session, [eid, *described], LEASE)
    assert [c.email_id for c in claims] == described
    assert row(sessions, eid).status == EmailStatus.RENDERED
    assert event_types(sessions, eid) == []


def test_expired_claim_is_reclaimed_with_an_event(sessions: sessionmaker[Session]) -> None:
    (eid,) = ready(sessions)
    with sessions() as session:
        (first,) = claim(session, [eid], LEASE)
        session.commit()
    with sessions() as session:
        assert claim(session, [eid], LEASE) == []  # lease still live
        session.execute(
            update(Email).where(Email.id == eid).values(claimed_at=utcnow() - 2 * LEASE)
        )
        session.commit()
        # Any task may take over an expired claim, a batch's group too (its worker died):
        # only a released email, waiting for its own retry, is not a group's to claim.
        (again,) = claim(session, [eid], LEASE, first_try=True)
        session.commit()
        # Taken over once: the new claim's lease is live again.
        assert claim(session, [eid], LEASE) == []
        session.commit()
    assert again.reclaimed and again.tries == 2 and again.token != first.token
    assert event_types(sessions, eid) == ["sending", "reclaimed"]
    # The first holder's late acceptance is recorded as what it is: a second copy.
    with sessions() as session, session.begin():
        mark_sent(session, [Acceptance(first, "smtp", "m1")])
    email = row(sessions, eid)
    assert (email.status, email.provider_message_id, email.claim_token) == (
        EmailStatus.SENT,
        "m1",
        None,
    )
    sent = events_of(sessions, eid)[-1]
    assert sent.type == "sent"
    assert sent.detail == {"providerMessageId": "m1", "duplicate": LOST_CLAIM}
    # The new holder's acceptance, later still, is a copy too, and moves nothing.
    with sessions() as session, session.begin():
        mark_sent(session, [Acceptance(again, "smtp", "m2")])
    assert row(sessions, eid).provider_message_id == "m1"
    assert event_types(sessions, eid) == ["sending", "reclaimed", "sent", "sent"]


def test_release_then_retry_claims_again(sessions: sessionmaker[Session]) -> None:
    (eid,) = ready(sessions)
    later = utcnow() + timedelta(seconds=30)
    with sessions() as session:
        (held,) = claim(session, [eid], LEASE)
        assert release(session, [held], retry_at=later, reason="451", pinned_provider="smtp") == [
            eid
        ]
        session.commit()
        email = session.get(Email, eid)
        assert email is not None
        assert (email.status, email.pinned_provider, email.claim_token, email.last_error) == (
            EmailStatus.RENDERED,
            "smtp",
            None,
            "451",
        )
        assert email.enqueued_at == later
        # A released claim's token no longer moves the row.
        assert release(session, [held], retry_at=later) == []
        (second,) = claim(session, [eid], LEASE)
        assert second.tries == 2 and not second.reclaimed
        # Nor does it once another claim holds the row.
        assert release(session, [held], retry_at=later) == []
        session.commit()
    assert row(sessions, eid).claim_token == second.token


def test_release_gives_back_only_the_claims_still_held(sessions: sessionmaker[Session]) -> None:
    ids = ready(sessions, 3)
    with sessions() as session, session.begin():
        claims = claim(session, ids, LEASE)
    with sessions() as session, session.begin():
        # The last one's lease ran out and another worker took it over.
        session.execute(update(Email).where(Email.id == ids[2]).values(claim_token=uuid.uuid4()))
    with sessions() as session, session.begin():
        released = release(session, claims, retry_at=utcnow())
    assert sorted(released) == sorted(ids[:2])
    status = {eid: e.status for eid, e in rows(sessions, ids).items()}
    assert status == {
        ids[0]: EmailStatus.RENDERED,
        ids[1]: EmailStatus.RENDERED,
        ids[2]: EmailStatus.SENDING,
    }


def test_sent_with_rejected_recipients(sessions: sessionmaker[Session]) -> None:
    (eid,) = ready(sessions)
    with sessions() as session, session.begin():
        (held,) = claim(session, [eid], LEASE)
        mark_sent(
            session,
            [Acceptance(held, "smtp", "id-1", {"gone@example.com": "550 no such user"})],
        )
    email = row(sessions, eid)
    assert email.status == EmailStatus.SENT and email.recorded_status is None
    assert (email.provider, email.provider_message_id, email.claim_token) == ("smtp", "id-1", None)
    written = events_of(sessions, eid)
    assert [(e.type, e.provider, e.recipient, e.detail) for e in written] == [
        ("sending", None, None, {"try": 1}),
        ("sent", "smtp", None, {"providerMessageId": "id-1"}),
        ("recipient_rejected", "smtp", "gone@example.com", "550 no such user"),
    ]


def test_a_group_is_marked_sent_each_with_its_own_provider(
    sessions: sessionmaker[Session],
) -> None:
    ids = ready(sessions, 3)
    with sessions() as session, session.begin():
        claims = claim(session, ids, LEASE)
    providers = ["smtp", "ses", "smtp"]
    with sessions() as session, session.begin():
        mark_sent(
            session,
            [Acceptance(c, p, f"m-{c.email_id}") for c, p in zip(claims, providers, strict=True)],
            record=True,
        )
    found = rows(sessions, ids)
    for c, provider in zip(claims, providers, strict=True):
        email = found[c.email_id]
        assert (email.status, email.recorded_status) == (EmailStatus.SENT, "sent")
        assert (email.provider, email.provider_message_id) == (provider, f"m-{c.email_id}")
        assert event_types(sessions, c.email_id) == ["sending", "sent", "recorded"]
        assert events_of(sessions, c.email_id)[-1].detail == {"status": "sent", "tries": 1}


def test_fail_never_overwrites_a_final_status(sessions: sessionmaker[Session]) -> None:
    sent = make_email(sessions, status=EmailStatus.SENT)
    with sessions() as session, session.begin():
        assert fail(session, {sent: "late error"}) == []
    email = row(sessions, sent)
    assert email.status == EmailStatus.SENT and email.last_error is None
    assert event_types(sessions, sent) == []


def test_fail_moves_each_email_with_its_own_reason(sessions: sessionmaker[Session]) -> None:
    queued = make_email(sessions, status=EmailStatus.QUEUED)
    (sending,) = ready(sessions)
    with sessions() as session, session.begin():
        claim(session, [sending], LEASE)
    suppressed = make_email(sessions, status=EmailStatus.SUPPRESSED)
    reasons = {queued: "template gone", sending: "gave up", suppressed: "too late"}
    with sessions() as session, session.begin():
        moved = fail(session, reasons, record=True)
    assert sorted(moved) == sorted([queued, sending])
    found = rows(sessions, [queued, sending, suppressed])
    for eid in (queued, sending):
        assert found[eid].status == EmailStatus.FAILED and found[eid].claim_token is None
        assert (found[eid].last_error, found[eid].recorded_status) == (reasons[eid], "failed")
    assert found[suppressed].status == EmailStatus.SUPPRESSED
    assert found[suppressed].last_error is None
    assert [(e.type, e.detail) for e in events_of(sessions, sending)] == [
        ("sending", {"try": 1}),
        ("failed", "gave up"),
        ("recorded", {"status": "failed", "tries": 1}),
    ]


def test_an_outcome_is_recorded_once_per_final_status(sessions: sessionmaker[Session]) -> None:
    (eid,) = ready(sessions)
    in_flight = make_email(sessions, status=EmailStatus.QUEUED)
    with sessions() as session, session.begin():
        (held,) = claim(session, [eid], LEASE)
        mark_sent(session, [Acceptance(held, "smtp", "m1")])
    with sessions() as session, session.begin():
        recorded = mark_recorded(session, [eid, in_flight])
    assert [tuple(r) for r in recorded] == [(eid, "sent", "smtp", 1)]
    with sessions() as session, session.begin():
        assert mark_recorded(session, [eid]) == []
        # Delivery news moves the status on: recorded again, once.
        session.execute(update(Email).where(Email.id == eid).values(status=EmailStatus.DELIVERED))
    with sessions() as session, session.begin():
        assert [r[1] for r in mark_recorded(session, [eid])] == ["delivered"]
        assert mark_recorded(session, [eid]) == []
    assert event_types(sessions, eid) == ["sending", "sent", "recorded", "recorded"]
    assert event_types(sessions, in_flight) == []
