"""`POST /send` refuses bad input with a 400 in the contract's words, and stores nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Email
from tests.conftest import Keys

VALID: dict[str, Any] = {
    "from": "Mailroom <noreply@example.com>",
    "to": "ann@example.com",
    "subject": "Hello",
    "html": "<p>Hi</p>",
}


def post(client: FlaskClient, keys: Keys, body: Any, **headers: str) -> Any:
    return client.post("/send", json=body, headers={**keys.header("send"), **headers})


def assert_refused(response: Any, error: str, session: Session) -> None:
    assert response.status_code == 400, response.get_json()
    assert response.get_json() == {"status": "error", "message": "invalid request", "error": error}
    assert session.scalar(select(func.count()).select_from(Email)) == 0


@pytest.mark.parametrize(
    ("field", "value", "bad"),
    [
        ("to", "not-an-address", "not-an-address"),
        ("to", ["ann@example.com", "bob@"], "bob@"),
        ("to", "ann@example.com, x@y..com", "x@y..com"),
        ("cc", "carol at example.com", "carol"),
        ("bcc", ["@example.com"], "@example.com"),
        ("from", "Mailroom <nope>", "nope"),
        ("replyTo", "reply@", "reply@"),
    ],
)
def test_invalid_address_names_it(
    client: FlaskClient, keys: Keys, db_session: Session, field: str, value: Any, bad: str
) -> None:
    response = post(client, keys, {**VALID, field: value})
    assert_refused(response, f"`{bad}` is not a valid email address", db_session)


def test_missing_attachment_names_its_key(
    client: FlaskClient, keys: Keys, db_session: Session
) -> None:
    response = post(client, keys, {**VALID, "attachments": ["invoices/2026/missing.pdf"]})
    assert_refused(response, "attachment `invoices/2026/missing.pdf` not found", db_session)


def test_unknown_template_is_not_found(
    client: FlaskClient, keys: Keys, db_session: Session
) -> None:
    tid = "7f1c1a5e-0b39-4c8e-9d43-2b8f4f0e3a11"
    response = post(client, keys, {"from": VALID["from"], "to": VALID["to"], "templateId": tid})
    assert_refused(response, f"Template `{tid}` not found", db_session)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (
            {**VALID, "subject": "Hi\r\nBcc: victim@example.com"},
            "`subject` must not contain line breaks",
        ),
        (
            {**VALID, "to": "ann@example.com\r\nBcc: victim@example.com"},
            "`ann@example.com\\r\\nBcc: victim@example.com` is not a valid email address",
        ),
        (
            {**VALID, "headers": {"X-Campaign": "a\nBcc: victim@example.com"}},
            "`X-Campaign` must not contain line breaks",
        ),
        (
            {**VALID, "headers": {"Bcc": "victim@example.com"}},
            "header `Bcc` is not allowed: only `X-` names",
        ),
    ],
)
def test_header_injection_is_refused(
    client: FlaskClient, keys: Keys, db_session: Session, body: Any, error: str
) -> None:
    assert_refused(post(client, keys, body), error, db_session)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({k: v for k, v in VALID.items() if k != "to"}, "`to`: Missing data for required field."),
        (
            {**VALID, "html": None, "text": None},
            "`html`: Field may not be null.; `text`: Field may not be null.",
        ),
        (
            {"from": VALID["from"], "to": VALID["to"], "html": "<p>x</p>"},
            "`subject` and `html` or `text` are required when there is no `templateId`",
        ),
        ({**VALID, "colour": "blue"}, "`colour`: Unknown field."),
        ({**VALID, "to": 42}, "`to`: must be a string or an array of strings"),
        ({**VALID, "sendAt": "tomorrow"}, "`sendAt`: Not a valid datetime."),
    ],
)
def test_malformed_bodies(
    client: FlaskClient, keys: Keys, db_session: Session, body: Any, error: str
) -> None:
    assert_refused(post(client, keys, body), error, db_session)


def test_body_that_is_not_json(client: FlaskClient, keys: Keys, db_session: Session) -> None:
    response = client.post(
        "/send",
        data="{not json",
        headers={**keys.header("send"), "Content-Type": "application/json"},
    )
    assert_refused(response, "the body is not valid JSON", db_session)


def test_missing_from_without_default(client: FlaskClient, keys: Keys, db_session: Session) -> None:
    body = {k: v for k, v in VALID.items() if k != "from"}
    assert_refused(
        post(client, keys, body), "`from` is required (no default sender is configured)", db_session
    )


def test_no_key_is_401_and_wrong_scope_is_403(client: FlaskClient, keys: Keys) -> None:
    none = client.post("/send", json=VALID)
    assert none.status_code == 401
    assert none.get_json()["message"] == "unauthorized"
    bogus = client.post("/send", json=VALID, headers={"Authorization": "Bearer mr_abc_def"})
    assert bogus.status_code == 401
    read_only = client.post("/send", json=VALID, headers=keys.header("read"))
    assert read_only.status_code == 403
    assert read_only.get_json() == {
        "status": "error",
        "message": "forbidden",
        "error": "this API key lacks the `send` scope",
    }


def test_unknown_route_and_method_answer_in_the_envelope(client: FlaskClient) -> None:
    missing = client.get("/nope")
    assert missing.status_code == 404
    assert missing.get_json()["message"] == "not found"
    wrong = client.get("/send")
    assert wrong.status_code == 405
    assert wrong.get_json()["message"] == "method not allowed"


LONE_SURROGATES = [
    '{"subject": "\\ud800"}',
    '{"variables": {"X": {"format": "html", "content": "<b>\\udfff</b>"}}}',
    '{"variables": {"\\ud83d": "x"}}',
    '{"to": ["ann@example.com", "\\udc00@example.com"]}',
]


@pytest.mark.parametrize("override", LONE_SURROGATES)
def test_a_lone_surrogate_is_a_400_not_a_500(
    client: FlaskClient, keys: Keys, db_session: Session, override: str
) -> None:
    # Spelled as JSON escapes, as a client's JSON encoder writes them.
    body = json.dumps(VALID)[:-1] + ", " + override[1:]
    response = client.post(
        "/send",
        data=body,
        headers={**keys.header("send"), "Content-Type": "application/json"},
    )
    assert_refused(
        response,
        "request body: a string holds a lone UTF-16 surrogate, which is not valid Unicode",
        db_session,
    )


def test_a_surrogate_pair_is_just_a_character(
    client: FlaskClient, keys: Keys, db_session: Session
) -> None:
    response = post(client, keys, {**VALID, "subject": "Hello \U0001f600"})
    assert response.status_code == 200, response.get_json()
