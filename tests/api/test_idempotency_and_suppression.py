"""Idempotency-Key replays the first answer; suppressed recipients are never sent to."""

from __future__ import annotations

import uuid
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Email
from tests.conftest import Keys

BODY: dict[str, Any] = {"from": "a@example.com", "to": "b@example.com", "subject": "s", "text": "t"}


def emails(session: Session) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(Email)) or 0)


def test_same_key_same_body_returns_the_first_answer(
    client: FlaskClient, keys: Keys, db_session: Session
) -> None:
    auth = {**keys.header("send"), "Idempotency-Key": "order-1042-receipt"}
    first = client.post("/send", json=BODY, headers=auth)
    again = client.post("/send", json=dict(reversed(list(BODY.items()))), headers=auth)
    assert first.status_code == again.status_code == 200
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert emails(db_session) == 1

    different = client.post("/send", json={**BODY, "subject": "other"}, headers=auth)
    assert different.status_code == 409
    assert different.get_json() == {
        "status": "error",
        "message": "conflict",
        "error": "`Idempotency-Key` `order-1042-receipt` was already used with a different body",
    }
    other_key = client.post("/send", json=BODY, headers={**auth, "Idempotency-Key": "k2"})
    assert other_key.status_code == 200
    assert emails(db_session) == 2


def test_keys_belong_to_one_api_key(client: FlaskClient, keys: Keys, db_session: Session) -> None:
    for auth in (keys.header("send"), keys.header("send")):
        response = client.post("/send", json=BODY, headers={**auth, "Idempotency-Key": "same"})
        assert response.status_code == 200
    assert emails(db_session) == 2


def test_unusable_key_is_400(client: FlaskClient, keys: Keys) -> None:
    response = client.post(
        "/send", json=BODY, headers={**keys.header("send"), "Idempotency-Key": "x" * 300}
    )
    assert response.status_code == 400


def test_suppressed_recipients_are_dropped(
    client: FlaskClient, keys: Keys, db_session: Session
) -> None:
    admin = keys.header("admin")
    added = client.post("/suppressions", json={"address": "Gone <GONE@example.com>"}, headers=admin)
    assert added.status_code == 201 and added.get_json()["data"]["address"] == "gone@example.com"

    partly = client.post(
        "/send", json={**BODY, "to": "gone@example.com b@example.com"}, headers=admin
    ).get_json()
    assert partly["data"]["status"] == "queued" and partly["data"]["to"] == "b@example.com"
    email = client.get(f"/emails/{partly['data']['emailId']}", headers=admin).get_json()["data"]
    assert [(e["type"], e["recipient"]) for e in email["events"]] == [
        ("accepted", None),
        ("suppressed", "gone@example.com"),
    ]

    fully = client.post("/send", json={**BODY, "to": "gone@example.com"}, headers=admin)
    answer = fully.get_json()
    assert fully.status_code == 200 and answer["data"]["status"] == "suppressed"
    assert answer["message"] == "Email queued successfully"  # the contract's one text
    row = db_session.get(Email, uuid.UUID(answer["data"]["emailId"]))
    assert row is not None and row.enqueued_at is None  # never handed to the pipeline

    removed = client.delete("/suppressions/gone@example.com", headers=admin)
    assert removed.status_code == 200
    again = client.post("/send", json={**BODY, "to": "gone@example.com"}, headers=admin)
    assert again.get_json()["data"]["status"] == "queued"
    assert client.delete("/suppressions/gone@example.com", headers=admin).status_code == 404
