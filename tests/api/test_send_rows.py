"""The rows an accepted email is stored as (`store.accept`), and the API key lookup.

A single send is a list of one: these tests hold it to exactly the rows a longer list writes
for each email, and check the key lookup reads the table afresh on every request (a revoked
key is refused at once).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from api import create_app
from api.keys import create_key, find_key
from mailroom.migrate import upgrade
from models import ApiKey, Email, EmailRecipient, EmailTag, SenderSignature, Suppression, utcnow
from models.db import make_engine, make_session_factory
from models.email_event import EmailEvent
from render import Rendered
from store.accept import accept
from store.request import SendRequest


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated database of each kind."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'rows.sqlite3'}"
    else:
        url = str(request.getfixturevalue("pg_url"))
    upgrade(url)
    return url


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


REQUEST = SendRequest(
    from_addr="Billing <billing@example.com>",
    to=("Ann <ann@example.com>", "gone@example.com"),
    cc=("cy@example.net",),
    bcc=("dee@example.org",),
    variables={"ORDER": "#1", "N": 2},
    headers={"X-Campaign": "spring"},
    tags=("order", "spring", "order"),
)


RENDERED = Rendered(subject="Your order #1", html="<p>Order #1</p>", text="Order #1")


def _stored(session: Session, email_id: uuid.UUID) -> dict[str, Any]:
    """Everything stored for one email, without the values that differ by construction."""
    email = session.get(Email, email_id)
    assert email is not None
    columns = {
        c.key: getattr(email, c.key)
        for c in Email.__table__.columns
        if c.key not in {"id", "message_id", "created_at", "updated_at", "enqueued_at"}
    }
    recipients = session.scalars(
        select(EmailRecipient).where(EmailRecipient.email_id == email_id)
    ).all()
    tags = session.scalars(select(EmailTag).where(EmailTag.email_id == email_id)).all()
    events = session.scalars(
        select(EmailEvent).where(EmailEvent.email_id == email_id).order_by(EmailEvent.id)
    ).all()
    return {
        "email": columns,
        "enqueued": email.enqueued_at is not None,
        "message_domain": email.message_id.rpartition("@")[2],
        "recipients": sorted((r.address, r.kind) for r in recipients),
        "tags": sorted((t.tag, t.position) for t in tags),
        "events": [(e.type, e.recipient, e.provider, e.detail) for e in events],
    }


@pytest.mark.parametrize("signed", [True, False])
@pytest.mark.parametrize("send_at", [None, "later"])
def test_one_email_is_stored_as_each_of_a_batch_is(
    sessions: sessionmaker[Session], signed: bool, send_at: str | None
) -> None:
    with sessions() as session:
        session.add(Suppression(address="gone@example.com", reason="bounce", source="api"))
        session.add(SenderSignature(address="billing@example.com", html="<p>B</p>", text="B"))
        session.commit()
    request = REQUEST.but(
        signature=signed, send_at=utcnow() + timedelta(hours=2) if send_at else None
    )
    with sessions() as session:
        [single] = accept(session, [(request, RENDERED)], correlation_id="abc")
        batch = accept(session, [(request, RENDERED)] * 2, correlation_id="abc")
        session.commit()
    with sessions() as session:
        stored = _stored(session, single.id)
        assert stored == _stored(session, batch[0].id) == _stored(session, batch[1].id)
    # What the caller is answered is what was stored.
    assert single.status == stored["email"]["status"] and single.subject == RENDERED.subject
    assert (single.to, single.cc, single.bcc) == (
        (stored["email"]["to_addrs"][0],),
        REQUEST.cc,
        REQUEST.bcc,
    )
    assert stored["email"]["signature_text"] == ("B" if signed else None)
    assert stored["email"]["status"] == ("scheduled" if send_at else "queued")
    assert stored["email"]["to_addrs"] == ["Ann <ann@example.com>"]
    assert stored["recipients"] == [
        ("ann@example.com", "to"),
        ("cy@example.net", "cc"),
        ("dee@example.org", "bcc"),
        ("gone@example.com", "to"),  # kept for the record, with its `suppressed` event
    ]
    assert stored["tags"] == [("order", 0), ("spring", 1)]
    assert [(kind, recipient) for kind, recipient, _, _ in stored["events"]] == [
        ("accepted", None),
        ("suppressed", "gone@example.com"),
    ]


def test_an_email_to_suppressed_addresses_only_is_stored_whole(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        session.add(Suppression(address="gone@example.com", reason="bounce", source="api"))
        session.commit()
    request = REQUEST.but(to=("gone@example.com",), cc=(), bcc=(), tags=(), signature=False)
    with sessions() as session:
        [email] = accept(session, [(request, RENDERED)])
        session.commit()
    with sessions() as session:
        stored = _stored(session, email.id)
    assert stored["email"]["status"] == "suppressed" and not stored["enqueued"]
    assert stored["email"]["to_addrs"] == ["gone@example.com"]
    assert stored["recipients"] == [("gone@example.com", "to")] and stored["tags"] == []
    assert [e[0] for e in stored["events"]] == ["accepted", "suppressed"]


def test_an_email_that_cannot_be_stored_leaves_nothing(sessions: sessionmaker[Session]) -> None:
    email_id = uuid.uuid4()
    with sessions() as session:
        accept(session, [(REQUEST, RENDERED)], email_ids=[email_id])
        session.commit()
    with sessions() as session:
        with pytest.raises(Exception, match="(?i)unique|duplicate"):
            accept(session, [(REQUEST.but(tags=("other",)), RENDERED)], email_ids=[email_id])
        session.rollback()
    with sessions() as session:
        assert _stored(session, email_id)["tags"] == [("order", 0), ("spring", 1)]


# -- the API key lookup ------------------------------------------------------------------------


@pytest.fixture
def app_on(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    app = create_app(
        {"TESTING": True, "DATABASE_URL": database_url, "STORAGE_LOCAL_ROOT": tmp_path}
    )
    yield app
    app.extensions["mailroom.engine"].dispose()


def test_key_use_is_recorded_at_most_once_a_minute(
    app_on: Flask, sessions: sessionmaker[Session]
) -> None:
    with sessions() as session:
        key, plaintext = create_key(session, "k", ["send"])
        session.commit()
        key_id = key.id
    with sessions() as session:
        found = find_key(session, plaintext)
        assert found is not None and found.id == key_id and found.allows("send")
        first = found.last_used_at
        assert first is not None
    with sessions() as session:
        stored = session.get(ApiKey, key_id)
        assert stored is not None and stored.last_used_at == first
        again = find_key(session, plaintext)
        assert again is not None and again.last_used_at == first  # within the minute
        session.execute(
            update(ApiKey)
            .where(ApiKey.id == key_id)
            .values(last_used_at=utcnow() - timedelta(minutes=5))
        )
        session.commit()
    with sessions() as session:
        later = find_key(session, plaintext)
        assert later is not None and later.last_used_at is not None
        assert later.last_used_at > utcnow() - timedelta(minutes=1)
        assert find_key(session, plaintext[:-1] + ("x" if plaintext[-1] != "x" else "y")) is None
        assert find_key(session, "mr_nosuchprefix_secret") is None


def test_a_revoked_key_is_refused_on_its_next_request(
    app_on: Flask, sessions: sessionmaker[Session]
) -> None:
    client: FlaskClient = app_on.test_client()
    with sessions() as session:
        key, plaintext = create_key(session, "k", ["read"])
        session.commit()
        key_id = key.id
    headers = {"Authorization": f"Bearer {plaintext}"}
    assert client.get("/emails", headers=headers).status_code == 200
    with sessions() as session:
        session.execute(update(ApiKey).where(ApiKey.id == key_id).values(revoked_at=utcnow()))
        session.commit()
    refused = client.get("/emails", headers=headers)
    assert refused.status_code == 401
    assert refused.get_json()["error"] == "unknown or revoked API key"
    assert client.post("/send", json={}, headers=headers).status_code == 401
