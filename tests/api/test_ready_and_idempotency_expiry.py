"""`GET /ready` names each dependency that does not answer; an Idempotency-Key lives 24 hours."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api import create_app
from models import Email, IdempotencyKey
from tasks.app import celery_app
from tests.conftest import Keys
from tests.support.net import free_port

# /ready ------------------------------------------------------------------------------------

# Nothing listens on these: a refused connection, as when the service is down.
DEAD_DATABASE = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/mailroom"
DEAD_BROKER = f"amqp://guest:guest@127.0.0.1:{free_port()}//"


@pytest.fixture
def broker_down(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The broker the API checks (and would publish to) refuses connections."""
    monkeypatch.setitem(celery_app.conf, "broker_write_url", DEAD_BROKER)
    yield


def dead_database_app(storage_root: Path) -> Flask:
    return create_app(
        {
            "TESTING": True,
            "DATABASE_URL": DEAD_DATABASE,
            "STORAGE_LOCAL_ROOT": storage_root,
            "READY_TIMEOUT_SECONDS": 1.0,
        }
    )


def assert_unavailable(response: Any, which: str) -> None:
    assert response.status_code == 503
    assert response.get_json() == {
        "status": "error",
        "message": "service unavailable",
        "error": f"{which} unavailable",
    }


def test_ready_when_both_answer(client: FlaskClient) -> None:
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok", "broker": "ok"}


def test_ready_is_503_naming_the_database(storage_root: Path) -> None:
    response = dead_database_app(storage_root).test_client().get("/ready")
    assert_unavailable(response, "database")


def test_ready_is_503_naming_the_broker(client: FlaskClient, broker_down: None) -> None:
    assert_unavailable(client.get("/ready"), "broker")
    assert client.get("/health").status_code == 200  # alive, only not ready


def test_ready_is_503_naming_both(storage_root: Path, broker_down: None) -> None:
    response = dead_database_app(storage_root).test_client().get("/ready")
    assert_unavailable(response, "database and broker")


# Idempotency-Key expiry --------------------------------------------------------------------

BODY: dict[str, Any] = {"from": "a@example.com", "to": "b@example.com", "subject": "s", "text": "t"}


def emails(session: Session) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(Email)) or 0)


def age_keys(session: Session, by: timedelta) -> None:
    """Move every stored Idempotency-Key's time back, as if `by` had passed."""
    for key in session.scalars(select(IdempotencyKey)):
        key.created_at -= by
    session.commit()


def test_a_key_replays_for_24_hours(client: FlaskClient, keys: Keys, db_session: Session) -> None:
    auth = {**keys.header("send"), "Idempotency-Key": "receipt-7"}
    first = client.post("/send", json=BODY, headers=auth)
    age_keys(db_session, timedelta(hours=23, minutes=59))

    again = client.post("/send", json=BODY, headers=auth)

    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.get_json() == first.get_json()
    assert client.post("/send", json={**BODY, "text": "other"}, headers=auth).status_code == 409
    assert emails(db_session) == 1


def test_an_expired_key_is_new_again(client: FlaskClient, keys: Keys, db_session: Session) -> None:
    auth = {**keys.header("send"), "Idempotency-Key": "receipt-7"}
    first = client.post("/send", json=BODY, headers=auth).get_json()
    age_keys(db_session, timedelta(hours=24, minutes=1))

    again = client.post("/send", json=BODY, headers=auth)

    assert again.status_code == 200
    assert "Idempotent-Replayed" not in again.headers
    assert again.get_json()["data"]["emailId"] != first["data"]["emailId"]
    assert emails(db_session) == 2
    # The key now belongs to the new email: it replays that one, and refuses another body.
    third = client.post("/send", json=BODY, headers=auth)
    assert third.get_json() == again.get_json()
    assert client.post("/send", json={**BODY, "text": "other"}, headers=auth).status_code == 409
    assert emails(db_session) == 2


def test_an_expired_key_may_take_a_different_body(
    client: FlaskClient, keys: Keys, db_session: Session
) -> None:
    auth = {**keys.header("send"), "Idempotency-Key": "receipt-8"}
    assert client.post("/send", json=BODY, headers=auth).status_code == 200
    age_keys(db_session, timedelta(hours=25))

    other = client.post("/send", json={**BODY, "text": "other"}, headers=auth)

    assert other.status_code == 200, other.get_json()
    assert emails(db_session) == 2
