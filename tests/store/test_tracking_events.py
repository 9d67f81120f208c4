"""Tracking events: opens count once a minute per email, clicks every time, and an endpoint
gets them only when it names them."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from models import CallbackDelivery, EventType, WebhookEndpoint, utcnow
from store.events import Event, add_events, record_click, record_open
from store.outbox import forget_endpoints
from tests.store.emails import event_types, make_email


def test_opens_count_once_a_minute(sessions: sessionmaker[Session]) -> None:
    eid = make_email(sessions)
    with sessions() as session:
        assert record_open(session, eid) is True
        assert record_open(session, eid) is False
        session.commit()
    assert event_types(sessions, eid).count("opened") == 1
    # An open more than a minute after the last one counts again.
    other = make_email(sessions)
    with sessions() as session:
        add_events(session, [Event(other, EventType.OPENED, at=utcnow() - timedelta(seconds=61))])
        assert record_open(session, other) is True
        session.commit()
    assert event_types(sessions, other).count("opened") == 2


def test_clicks_each_count_and_a_purged_email_records_nothing(
    sessions: sessionmaker[Session],
) -> None:
    eid = make_email(sessions)
    with sessions() as session:
        assert record_click(session, eid, "https://a.example/1")
        assert record_click(session, eid, "https://a.example/1")
        assert record_click(session, uuid.uuid4(), "https://a.example/1") is False
        session.commit()
    assert event_types(sessions, eid).count("clicked") == 2


def test_only_endpoints_that_name_a_tracking_event_get_it(
    sessions: sessionmaker[Session],
) -> None:
    forget_endpoints()
    with sessions() as session:
        every = WebhookEndpoint(url="http://127.0.0.1:9/all", events=[], secret="s" * 16)
        named = WebhookEndpoint(url="http://127.0.0.1:9/c", events=["clicked"], secret="s" * 16)
        session.add_all([every, named])
        session.commit()
        named_id = named.id
    eid = make_email(sessions)
    with sessions() as session:
        record_click(session, eid, "https://a.example/1")
        record_open(session, eid)
        session.info.clear()  # nothing to publish in this test
        session.commit()
    forget_endpoints()
    with sessions() as session:
        rows = session.scalars(select(CallbackDelivery)).all()
    assert [(r.endpoint_id, r.event) for r in rows] == [(named_id, "clicked")]
    assert rows[0].payload["type"] == "email.clicked" and rows[0].payload["emailId"] == str(eid)
    assert rows[0].payload["data"]["detail"] == {"url": "https://a.example/1"}
    assert rows[0].payload["detail"] == {"url": "https://a.example/1"}
