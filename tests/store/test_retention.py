"""The retention purge's batches, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from mailroom.migrate import upgrade
from models import (
    ApiKey,
    CallbackDelivery,
    Email,
    EmailEvent,
    EmailRecipient,
    EmailStatus,
    EmailTag,
    IdempotencyKey,
    SandboxMessage,
    SendAttempt,
    WebhookEndpoint,
    utcnow,
)
from models.db import make_engine, make_session_factory
from store.retention import (
    count_due,
    purge_content,
    purge_idempotency_keys,
    purge_records,
)
from tests.store.emails import make_email, row

DAY = timedelta(days=1)


def old_email(sessions: sessionmaker[Session], days: float, status: EmailStatus) -> uuid.UUID:
    """A final (or not) email created `days` ago, with content and every kind of child row."""
    eid = make_email(
        sessions,
        status=status,
        created_at=utcnow() - days * DAY,
        html="<p>secret</p>",
        text="secret",
        variables={"code": "123456"},
        attachment_keys=[f"uploads/gomail/{uuid.uuid4()}/a.pdf"],
        attachment_manifest=[{"key": "k", "filename": "a.pdf", "size": 3}],
        signature_html="<p>sig</p>",
        signature_text="sig",
        custom_style="p{}",
    )
    with sessions() as session:
        endpoint = WebhookEndpoint(url="https://example.com/hook", secret="s", events=["sent"])
        session.add(endpoint)
        session.flush()
        session.add_all(
            [
                EmailEvent(email_id=eid, type="sent"),
                SendAttempt(email_id=eid, provider="smtp", outcome="sent"),
                EmailRecipient(email_id=eid, address="b@example.com", kind="to"),
                EmailTag(email_id=eid, tag="welcome"),
                CallbackDelivery(
                    endpoint_id=endpoint.id,
                    email_id=eid,
                    event="sent",
                    payload={},
                    next_attempt_at=utcnow(),
                ),
                SandboxMessage(
                    email_id=eid, raw=b"Subject: s\r\n\r\nsecret", provider_message_id="t"
                ),
            ]
        )
        session.commit()
    return eid


def count_rows(sessions: sessionmaker[Session], model: type, eid: uuid.UUID) -> int:
    """How many rows of `model` the email has."""
    column = model.email_id  # type: ignore[attr-defined]
    with sessions() as session:
        count = session.scalar(select(func.count()).select_from(model).where(column == eid))
        return int(count or 0)


def test_content_of_old_final_emails_is_cleared_and_their_skeleton_kept(
    sessions: sessionmaker[Session],
) -> None:
    old = old_email(sessions, 31, EmailStatus.SENT)
    recent = old_email(sessions, 29, EmailStatus.SENT)
    in_flight = old_email(sessions, 31, EmailStatus.QUEUED)
    scheduled = old_email(sessions, 31, EmailStatus.SCHEDULED)
    due_for_deletion = old_email(sessions, 400, EmailStatus.SENT)

    with sessions.begin() as session:
        purged = purge_content(session, utcnow() - 30 * DAY, 100, utcnow() - 365 * DAY)

    assert [p.id for p in purged] == [old]
    assert purged[0].attachment_keys == tuple(row(sessions, old).attachment_keys)
    email = row(sessions, old)
    assert (email.html, email.text, email.variables, email.attachment_manifest) == (
        None,
        None,
        {},
        None,
    )
    assert (email.signature_html, email.signature_text, email.custom_style) == (None, None, None)
    assert email.content_purged_at is not None
    assert (email.subject, email.status, email.to_addrs) == ("s", "sent", ["b@example.com"])
    assert count_rows(sessions, EmailEvent, old) == 1  # the record stays
    assert count_rows(sessions, SandboxMessage, old) == 0  # a raw message is content
    assert count_rows(sessions, SandboxMessage, recent) == 1
    for kept in (recent, in_flight, scheduled, due_for_deletion):
        assert row(sessions, kept).html == "<p>secret</p>"
    # Done once: a second run finds nothing more.
    with sessions.begin() as session:
        assert purge_content(session, utcnow() - 30 * DAY, 100, utcnow() - 365 * DAY) == []


def test_old_final_emails_are_deleted_with_every_row_of_theirs(
    sessions: sessionmaker[Session],
) -> None:
    old = old_email(sessions, 400, EmailStatus.DELIVERED)
    kept = old_email(sessions, 300, EmailStatus.FAILED)
    stuck = old_email(sessions, 400, EmailStatus.SENDING)

    with sessions.begin() as session:
        purged = purge_records(session, utcnow() - 365 * DAY, 100)

    assert [p.id for p in purged] == [old]
    for model in (
        EmailEvent,
        SendAttempt,
        EmailRecipient,
        EmailTag,
        CallbackDelivery,
        SandboxMessage,
    ):
        assert count_rows(sessions, model, old) == 0
        assert count_rows(sessions, model, kept) == 1
    with sessions() as session:
        assert session.get(Email, old) is None
        assert session.get(Email, kept) is not None
        assert session.get(Email, stuck) is not None


def test_batches_take_the_oldest_first_and_never_more_than_the_limit(
    sessions: sessionmaker[Session],
) -> None:
    ids = [old_email(sessions, 400 + n, EmailStatus.SENT) for n in range(5)]

    with sessions.begin() as session:
        first = purge_records(session, utcnow() - 365 * DAY, 2)
    with sessions.begin() as session:
        due = count_due(session, utcnow() - 30 * DAY, utcnow() - 365 * DAY, utcnow())

    assert [p.id for p in first] == [ids[4], ids[3]]
    # Content is not cleared first on emails due for deletion: they go whole.
    assert (due.content, due.records) == (0, 3)


def test_idempotency_keys_go_after_their_24_hours(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        key = ApiKey(name="k", prefix="mr_abc", secret_hash="h", scopes=["send"])
        session.add(key)
        session.flush()
        for n, hours in enumerate((25, 30, 23)):
            session.add(
                IdempotencyKey(
                    api_key_id=key.id,
                    key=f"k{n}",
                    request_hash="x",
                    status_code=200,
                    response={},
                    created_at=utcnow() - timedelta(hours=hours),
                )
            )
        session.commit()

    with sessions.begin() as session:
        assert purge_idempotency_keys(session, utcnow() - timedelta(hours=24), 1) == 1
    with sessions.begin() as session:
        assert purge_idempotency_keys(session, utcnow() - timedelta(hours=24), 10) == 1
    with sessions() as session:
        assert session.scalars(select(IdempotencyKey.key)).all() == ["k2"]


@pytest.mark.postgres
def test_a_batch_skips_rows_another_transaction_holds_instead_of_waiting(pg_url: str) -> None:
    upgrade(pg_url)
    engine = make_engine(pg_url)
    sessions = make_session_factory(engine)
    try:
        held, free = (old_email(sessions, 400 + n, EmailStatus.SENT) for n in range(2))
        with sessions() as holder:
            # A webhook's transaction updating the old email, not committed yet.
            holder.execute(
                update(Email).where(Email.id == held).values(status=EmailStatus.DELIVERED)
            )
            with sessions.begin() as session:
                session.execute(text("SET LOCAL lock_timeout = '2s'"))
                purged = purge_records(session, utcnow() - 365 * DAY, 10)
            holder.commit()

        assert [p.id for p in purged] == [free]
        assert row(sessions, held).status == EmailStatus.DELIVERED
    finally:
        engine.dispose()
