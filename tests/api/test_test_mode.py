"""Test-mode keys at the API: the key's mode is written on its emails, lists show one mode,
and the raw message is for test emails only."""

from __future__ import annotations

import uuid
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from models import Email
from tests.conftest import Keys

BODY: dict[str, Any] = {
    "from": "app@example.com",
    "to": "ann@example.com",
    "subject": "Hi {{ name }}",
    "text": "Hello {{ name }}",
    "variables": {"name": "Ann"},
}


def send(client: FlaskClient, headers: dict[str, str], **extra: Any) -> uuid.UUID:
    response = client.post("/send", json={**BODY, **extra}, headers=headers)
    assert response.status_code == 200, response.get_json()
    return uuid.UUID(response.get_json()["data"]["emailId"])


def listed(client: FlaskClient, headers: dict[str, str], query: str = "") -> list[str]:
    response = client.get(f"/emails{query}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return [item["emailId"] for item in response.get_json()["data"]["items"]]


def test_a_test_key_reads_mr_test_and_its_mode_cannot_be_swapped(
    client: FlaskClient, keys: Keys
) -> None:
    test = keys.header("read", test=True)
    live = keys.header("read")
    assert test["Authorization"].startswith("Bearer mr_test_")
    assert not live["Authorization"].startswith("Bearer mr_test_")
    assert client.get("/emails", headers=test).status_code == 200
    # The same secret presented in the other mode is no key at all.
    as_live = {"Authorization": test["Authorization"].replace("mr_test_", "mr_", 1)}
    as_test = {"Authorization": live["Authorization"].replace("mr_", "mr_test_", 1)}
    for headers in (as_live, as_test):
        response = client.get("/emails", headers=headers)
        assert response.status_code == 401
        assert response.get_json()["error"] == "unknown or revoked API key"


def test_emails_carry_their_keys_mode_on_every_sending_path(
    client: FlaskClient, keys: Keys, db_session: Session
) -> None:
    test, live = keys.header("send", "read", test=True), keys.header("send", "read")
    single = send(client, test)
    response = client.post(
        "/send/batch",
        json={
            **{k: v for k, v in BODY.items() if k != "to"},
            "recipients": [{"to": "a@example.com"}, {"to": "b@example.com"}],
        },
        headers=test,
    )
    assert response.status_code == 200, response.get_json()
    batch = [uuid.UUID(i) for i in response.get_json()["data"]["emailIds"]]
    gomail = client.post(
        "/api/v1/email-service/send-email/",
        json={
            "from_address": "app@example.com",
            "to_addresses": "c@example.com",
            "subject": "s",
            "body": "<p>b</p>",
        },
        headers=test,
    )
    assert gomail.status_code == 200, gomail.get_json()
    live_one = send(client, live)
    modes = {
        eid: db_session.get(Email, eid).is_test  # type: ignore[union-attr]
        for eid in [single, *batch, uuid.UUID(gomail.get_json()["email_id"]), live_one]
    }
    assert modes == {**{eid: True for eid in modes if eid != live_one}, live_one: False}
    data = client.get(f"/emails/{single}", headers=test).get_json()["data"]
    assert data["mode"] == "test"
    assert client.get(f"/emails/{live_one}", headers=test).get_json()["data"]["mode"] == "live"


def test_the_mode_is_the_keys_never_the_bodys(client: FlaskClient, keys: Keys) -> None:
    for field in ("test", "isTest", "mode"):
        response = client.post("/send", json={**BODY, field: True}, headers=keys.header("send"))
        assert response.status_code == 400, field


def test_lists_show_one_mode_by_default_the_keys(client: FlaskClient, keys: Keys) -> None:
    test, live = keys.header("send", "read", test=True), keys.header("send", "read")
    test_ids = {str(send(client, test)) for _ in range(2)}
    live_ids = {str(send(client, live)) for _ in range(2)}
    assert set(listed(client, test)) == test_ids
    assert set(listed(client, live)) == live_ids
    assert set(listed(client, live, "?mode=test")) == test_ids
    assert set(listed(client, test, "?mode=live")) == live_ids
    assert set(listed(client, test, "?mode=test&to=ann@example.com")) == test_ids
    response = client.get("/emails?mode=all", headers=live)
    assert response.status_code == 400
    assert response.get_json()["message"] == "invalid request"


def test_raw_is_for_test_emails_the_sandbox_accepted(client: FlaskClient, keys: Keys) -> None:
    test, live = keys.header("send", "read", test=True), keys.header("send", "read")
    live_id, test_id = send(client, live), send(client, test)

    response = client.get(f"/emails/{live_id}/raw", headers=live)
    assert response.status_code == 404
    assert response.get_json() == {
        "status": "error",
        "message": "not found",
        "error": f"Email `{live_id}` is a live email: raw messages are kept for test-mode "
        "emails only",
    }
    # Queued, not sent yet (no worker here): nothing to show so far.
    response = client.get(f"/emails/{test_id}/raw", headers=test)
    assert response.status_code == 404
    assert "has no raw message: it is queued" in response.get_json()["error"]
    assert client.get(f"/emails/{uuid.uuid4()}/raw", headers=test).status_code == 404
    assert client.get(f"/emails/{test_id}/raw", headers=keys.header("send")).status_code == 403
    assert client.get(f"/emails/{test_id}/raw").status_code == 401
