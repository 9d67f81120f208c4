"""`Idempotency-Key` on `/send/batch` (list sends too) and the GoMail endpoint, as on `/send`:
the same key and body answer as the first time and store nothing new; another body is a 409."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Email
from tests.api.test_gomail import FIELDS, SEND_EMAIL, file_part, stored_files
from tests.conftest import Keys

BATCH: dict[str, Any] = {
    "from": "news@example.com",
    "subject": "Hello {{ name }}",
    "html": "<p>Hi {{ name }}</p>",
    "recipients": [{"to": f"u{i}@example.com", "variables": {"name": f"U{i}"}} for i in range(3)],
}


def count(session: Session) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(Email)) or 0)


def conflict(key: str) -> str:
    return f"`Idempotency-Key` `{key}` was already used with a different body"


def test_batch_replays_its_first_answer(
    client: FlaskClient, keys: Keys, db_session: Session
) -> None:
    auth = {**keys.header("send"), "Idempotency-Key": "newsletter-2026-05"}
    first = client.post("/send/batch", json=BATCH, headers=auth)
    assert first.status_code == 200, first.get_json()
    assert "Idempotent-Replayed" not in first.headers

    again = client.post("/send/batch", json=BATCH, headers=auth)
    assert again.status_code == 200
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert count(db_session) == 3

    other = client.post("/send/batch", json={**BATCH, "subject": "Other"}, headers=auth)
    assert other.status_code == 409
    assert other.get_json() == {
        "status": "error",
        "message": "conflict",
        "error": conflict("newsletter-2026-05"),
    }
    # Without a key, or with another, a batch is a new batch.
    fresh = client.post("/send/batch", json=BATCH, headers=keys.header("send"))
    assert fresh.get_json()["data"]["batchId"] != first.get_json()["data"]["batchId"]
    assert count(db_session) == 6


def test_a_bad_batch_leaves_the_key_free(
    client: FlaskClient, keys: Keys, db_session: Session
) -> None:
    auth = {**keys.header("send"), "Idempotency-Key": "k-1"}
    bad = {**BATCH, "recipients": [{"to": "broken@"}]}
    assert client.post("/send/batch", json=bad, headers=auth).status_code == 400
    good = client.post("/send/batch", json=BATCH, headers=auth)
    assert good.status_code == 200, good.get_json()
    assert count(db_session) == 3


def test_list_send_replays_its_first_answer(client: FlaskClient, keys: Keys) -> None:
    auth = {**keys.header("send"), "Idempotency-Key": "list-send-1"}
    created = client.post("/lists", json={"name": "customers"}, headers=auth)
    list_id = created.get_json()["data"]["listId"]
    body = {k: v for k, v in BATCH.items() if k != "recipients"} | {"listId": list_id}

    first = client.post("/send/batch", json=body, headers=auth)
    assert first.status_code == 200, first.get_json()
    again = client.post("/send/batch", json=body, headers=auth)
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    other = client.post("/send/batch", json={**body, "subject": "Other"}, headers=auth)
    assert other.status_code == 409
    assert other.get_json()["error"] == conflict("list-send-1")


def test_gomail_json_replays_its_first_answer(
    client: FlaskClient, keys: Keys, db_session: Session
) -> None:
    auth = {**keys.header("send"), "Idempotency-Key": "gomail-42"}
    first = client.post(SEND_EMAIL, json=FIELDS, headers=auth)
    assert first.status_code == 200, first.get_json()

    again = client.post(SEND_EMAIL, json=FIELDS, headers=auth)
    assert again.status_code == 200
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert count(db_session) == 1

    other = client.post(SEND_EMAIL, json={**FIELDS, "subject": "Other"}, headers=auth)
    assert other.status_code == 409
    assert other.get_json() == {
        "success": False,
        "message": conflict("gomail-42"),
        "email_id": None,
    }
    assert count(db_session) == 1


def test_gomail_uploads_are_part_of_the_body(
    client: FlaskClient, keys: Keys, db_session: Session, storage_root: Path
) -> None:
    auth = {**keys.header("send"), "Idempotency-Key": "gomail-upload"}

    def post(content: bytes) -> Any:
        data = {**FIELDS, "attachment": file_part(content, "report.pdf", "application/pdf")}
        return client.post(SEND_EMAIL, data=data, headers=auth, content_type="multipart/form-data")

    first = post(b"%PDF-1.4 v1")
    assert first.status_code == 200, first.get_json()
    again = post(b"%PDF-1.4 v1")
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    # The replay stored no second copy of the file.
    assert len(stored_files(storage_root)) == 1

    changed = post(b"%PDF-1.4 v2")
    assert changed.status_code == 409
    assert changed.get_json()["message"] == conflict("gomail-upload")
    assert count(db_session) == 1
    assert len(stored_files(storage_root)) == 1
