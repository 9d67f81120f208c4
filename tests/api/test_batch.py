"""POST /send/batch validates every recipient first and names the bad one's index."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient
from kombu.exceptions import OperationalError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Email
from tasks.app import celery_app
from tasks.publish import CHUNK
from tests.conftest import Keys

INLINE: dict[str, Any] = {
    "from": "news@example.com",
    "subject": "Hello {{ name }}",
    "html": "<p>Hi {{ name }}</p>",
}


def count(session: Session) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(Email)) or 0)


def test_inline_batch_stores_every_email(
    client: FlaskClient, keys: Keys, db_session: Session
) -> None:
    recipients = [{"to": f"u{i}@example.com", "variables": {"name": f"U{i}"}} for i in range(25)]
    response = client.post(
        "/send/batch", json={**INLINE, "recipients": recipients}, headers=keys.header("send")
    )
    assert response.status_code == 200, response.get_json()
    data = response.get_json()["data"]
    assert data["count"] == 25 and len(data["emailIds"]) == 25 and data["status"] == "queued"
    assert count(db_session) == 25
    email = db_session.get(Email, uuid.UUID(data["emailIds"][7]))
    assert (
        email is not None and email.html == "<p>Hi U7</p>" and email.to_addrs == ["u7@example.com"]
    )
    assert f"batch:{data['batchId']}" in email.tags


def test_one_bad_address_sends_nothing_and_names_its_index(
    client: FlaskClient, keys: Keys, db_session: Session
) -> None:
    recipients = [{"to": f"u{i}@example.com"} for i in range(10)]
    recipients[6] = {"to": "broken@"}
    response = client.post(
        "/send/batch", json={**INLINE, "recipients": recipients}, headers=keys.header("send")
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == (
        "`recipients[6].to`: `broken@` is not a valid email address"
    )
    assert count(db_session) == 0


def test_template_variables_are_checked_per_recipient(
    client: FlaskClient, keys: Keys, db_session: Session
) -> None:
    auth = keys.header("send", "templates")
    template = client.post(
        "/templates",
        json={
            "name": "t",
            "subject": "Hi {{ NAME }}",
            "html": "<p>{{ NAME }}</p>",
            "variables": [{"name": "NAME", "required": True}],
        },
        headers=auth,
    ).get_json()["data"]["templateId"]
    recipients = [
        {"to": "a@example.com", "variables": {"NAME": "A"}},
        {"to": "b@example.com", "variables": {}},
    ]
    response = client.post(
        "/send/batch",
        json={"from": "x@example.com", "templateId": template, "recipients": recipients},
        headers=auth,
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == (
        f"`recipients[1]`: Variable `NAME` is required by template `{template}`"
    )
    recipients[1]["variables"] = {"NAME": "B", "EXTRA": 1}
    response = client.post(
        "/send/batch",
        json={"from": "x@example.com", "templateId": template, "recipients": recipients},
        headers=auth,
    )
    assert response.get_json()["error"] == (
        f"`recipients[1]`: Variable `EXTRA` not found in template `{template}`"
    )
    assert count(db_session) == 0


def test_limits_and_shape(client: FlaskClient, keys: Keys) -> None:
    auth = keys.header("send")
    too_many = [{"to": "a@example.com"}] * 1001
    assert (
        client.post(
            "/send/batch", json={**INLINE, "recipients": too_many}, headers=auth
        ).status_code
        == 400
    )
    neither = client.post("/send/batch", json=INLINE, headers=auth)
    assert neither.get_json()["error"] == "give either `recipients` or `listId`"
    assert (
        client.post(
            "/send/batch", json={**INLINE, "recipients": []}, headers=keys.header("read")
        ).status_code
        == 403
    )


def test_a_publish_failing_midway_leaves_only_the_rest_to_the_sweeper(
    client: FlaskClient, keys: Keys, db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chunks the broker confirmed are in flight; the failed one and those after it are
    made due for the sweeper's next run (enqueued_at cleared), and the answer is a 200: every
    email is stored, so the batch is accepted."""
    publish = celery_app.send_task
    calls = []

    def second_fails(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[1:])
        if len(calls) == 2:
            raise OperationalError("connection reset")
        return publish(*args, **kwargs)

    monkeypatch.setattr(celery_app, "send_task", second_fails)
    recipients = [{"to": f"u{i}@example.com"} for i in range(2 * CHUNK + 50)]
    response = client.post(
        "/send/batch", json={**INLINE, "recipients": recipients}, headers=keys.header("send")
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["data"]["count"] == 2 * CHUNK + 50
    db_session.expire_all()
    waiting = {
        str(eid) for eid in db_session.scalars(select(Email.id).where(Email.enqueued_at.is_(None)))
    }
    confirmed = set(calls[0][0][0])
    assert count(db_session) == 2 * CHUNK + 50
    assert len(confirmed) == CHUNK and confirmed.isdisjoint(waiting)
    assert len(waiting) == CHUNK + 50
