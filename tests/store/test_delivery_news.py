"""Provider news about sent emails: the summary status only moves up, whatever the order in
which the news arrives, and a repeated event is recorded once."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session, sessionmaker

from models import EmailRecipient, EmailStatus
from providers.events.model import DeliveryEvent
from store.delivery import Applied, apply_events
from tests.store.emails import event_types, make_email, row


def sent(sessions: sessionmaker[Session], *recipients: str) -> tuple[uuid.UUID, str]:
    """A sent email to `recipients` and the provider's message id."""
    message_id = f"ses-{uuid.uuid4()}"
    eid = make_email(
        sessions,
        status=EmailStatus.SENT,
        to_addrs=list(recipients),
        provider="ses",
        provider_message_id=message_id,
    )
    with sessions() as session, session.begin():
        session.add_all(EmailRecipient(email_id=eid, address=r, kind="to") for r in recipients)
    return eid, message_id


def news(message_id: str, type_: str, recipient: str, event_id: str | None = None) -> DeliveryEvent:
    return DeliveryEvent(
        provider="ses",
        type=type_,  # type: ignore[arg-type]
        provider_message_id=message_id,
        recipient=recipient,
        at=datetime.now(UTC),
        permanent=type_ == "bounced",
        event_id=event_id,
    )


def apply(sessions: sessionmaker[Session], *events: DeliveryEvent) -> Applied:
    with sessions() as session, session.begin():
        return apply_events(session, events)


def test_the_status_only_moves_up(sessions: sessionmaker[Session]) -> None:
    eid, mid = sent(sessions, "a@example.com", "b@example.com")
    assert apply(sessions, news(mid, "bounced", "a@example.com")).status_changes == 1
    assert row(sessions, eid).status == EmailStatus.BOUNCED
    # A delivery to the other recipient, later: recorded, the bounce stands.
    applied = apply(sessions, news(mid, "delivered", "b@example.com"))
    assert (applied.recorded, applied.status_changes) == (1, 0)
    assert row(sessions, eid).status == EmailStatus.BOUNCED
    assert event_types(sessions, eid) == ["bounced", "delivered"]


def test_a_repeated_event_is_recorded_once(sessions: sessionmaker[Session]) -> None:
    eid, mid = sent(sessions, "a@example.com")
    first = apply(sessions, news(mid, "delivered", "a@example.com", event_id="e1"))
    again = apply(sessions, news(mid, "delivered", "a@example.com", event_id="e1"))
    unknown = apply(sessions, news("nobody", "delivered", "a@example.com"))
    assert (first.recorded, first.status_changes) == (1, 1)
    assert (again.recorded, again.duplicates, again.status_changes) == (0, 1, 0)
    assert unknown.unknown == 1
    assert row(sessions, eid).status == EmailStatus.DELIVERED
    assert event_types(sessions, eid) == ["delivered"]


def test_refused_for_every_recipient_the_email_failed(sessions: sessionmaker[Session]) -> None:
    eid, mid = sent(sessions, "a@example.com", "b@example.com")
    apply(sessions, news(mid, "rejected", "a@example.com"))
    assert row(sessions, eid).status == EmailStatus.SENT  # b may still get it
    apply(sessions, news(mid, "dropped", "b@example.com"))
    assert row(sessions, eid).status == EmailStatus.FAILED


# Two webhook requests at once: on SQLite their transactions queue for the write lock, so each
# sees the other's events; on PostgreSQL they overlap.
@pytest.mark.parametrize(
    "sessions", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_news_arriving_at_once_still_moves_the_status_up(
    sessions: sessionmaker[Session],
) -> None:
    eid, mid = sent(sessions, "a@example.com", "b@example.com")
    results: list[Applied] = []
    with sessions() as first, first.begin():
        # One request records a delivery to a; before it commits, another a bounce for b.
        apply_events(first, [news(mid, "delivered", "a@example.com")])
        other = threading.Thread(
            target=lambda: results.append(apply(sessions, news(mid, "bounced", "b@example.com")))
        )
        other.start()
        other.join(timeout=1)
        assert other.is_alive(), "the second must wait for the first's row lock"
    other.join(timeout=30)
    assert results and results[0].recorded == 1
    # The bounce outranks the delivery, whichever committed first.
    assert row(sessions, eid).status == EmailStatus.BOUNCED
