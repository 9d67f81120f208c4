"""Sender signatures: stored per address, fixed on each email when it is accepted."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from models import Email
from tests.conftest import Keys

PATH = "/senders/Billing@Example.com/signature"
SIGNATURE = {"html": "<p>Jane, Billing</p>", "text": "Jane, Billing"}


class Api:
    """The test client with a `templates` and `send` key."""

    def __init__(self, client: FlaskClient, keys: Keys) -> None:
        self.client = client
        self.auth = keys.header("templates", "send")

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        response = self.client.open(path, method=method, json=body, headers=self.auth)
        return response.status_code, response.get_json()

    def send(self, **extra: Any) -> uuid.UUID:
        body = {
            "from": "Billing <billing@example.com>",
            "to": "ann@example.com",
            "subject": "Invoice",
            "html": "<p>Your invoice</p>",
            **extra,
        }
        status, answer = self.call("POST", "/send", body)
        assert status == 200, answer
        return uuid.UUID(answer["data"]["emailId"])


@pytest.fixture
def api(client: FlaskClient, keys: Keys) -> Api:
    return Api(client, keys)


def test_put_get_delete(api: Api) -> None:
    status, answer = api.call("GET", PATH)
    assert status == 404 and answer["error"] == "`Billing@Example.com` has no signature"

    status, answer = api.call("PUT", PATH, SIGNATURE)
    assert status == 200, answer
    data = answer["data"]
    assert data["address"] == "billing@example.com"
    assert (data["html"], data["text"]) == (SIGNATURE["html"], SIGNATURE["text"])
    assert data["updatedAt"]

    status, answer = api.call("PUT", "/senders/billing@example.com/signature", {"text": " Jane "})
    assert status == 200 and (answer["data"]["html"], answer["data"]["text"]) == (None, "Jane")
    status, answer = api.call("GET", PATH)
    assert status == 200 and answer["data"]["text"] == "Jane"

    status, answer = api.call("DELETE", PATH)
    assert status == 200 and answer["message"] == "Signature deleted"
    assert api.call("GET", PATH)[0] == 404
    assert api.call("DELETE", PATH)[0] == 404


@pytest.mark.parametrize(
    ("path", "body", "error"),
    [
        (
            "/senders/not-an-address/signature",
            SIGNATURE,
            "`not-an-address` is not a valid email address",
        ),
        (PATH, {}, "a signature needs `html` or `text`"),
        (PATH, {"html": " ", "text": None}, "a signature needs `html` or `text`"),
        (PATH, {"html": "x", "css": "y"}, "`css`: Unknown field."),
    ],
)
def test_bad_requests(api: Api, path: str, body: dict[str, Any], error: str) -> None:
    status, answer = api.call("PUT", path, body)
    assert status == 400
    assert answer == {"status": "error", "message": "invalid request", "error": error}


def test_scope_is_templates(api: Api, keys: Keys) -> None:
    send_only = keys.header("send", "read")
    for method in ("GET", "PUT", "DELETE"):
        response = api.client.open(PATH, method=method, json=SIGNATURE, headers=send_only)
        assert response.status_code == 403
        assert response.get_json()["error"] == "this API key lacks the `templates` scope"


def test_send_stores_the_signature_on_the_email_unless_turned_off(
    api: Api, db_session: Session
) -> None:
    unsigned_before = api.send()
    api.call("PUT", PATH, SIGNATURE)
    signed = api.send()
    turned_off = api.send(signature=False)
    explicit = api.send(signature=True, **{"from": "BILLING@example.com"})
    api.call("PUT", PATH, {"text": "edited"})

    def stored(email_id: uuid.UUID) -> tuple[str | None, str | None]:
        email = db_session.get(Email, email_id)
        assert email is not None
        return email.signature_html, email.signature_text

    assert stored(unsigned_before) == (None, None)
    # Fixed at acceptance: the edit after it changes nothing on queued emails.
    assert stored(signed) == (SIGNATURE["html"], SIGNATURE["text"])
    assert stored(turned_off) == (None, None)
    assert stored(explicit) == (SIGNATURE["html"], SIGNATURE["text"])
    assert stored(api.send()) == (None, "edited")


def test_signature_must_be_a_boolean(api: Api) -> None:
    status, answer = api.call(
        "POST",
        "/send",
        {
            "from": "a@example.com",
            "to": "b@example.com",
            "subject": "s",
            "text": "t",
            "signature": "maybe",
        },
    )
    assert status == 400 and answer["error"] == "`signature`: Not a valid boolean."
