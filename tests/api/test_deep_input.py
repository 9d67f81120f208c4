"""Nothing deep becomes a 500: bodies nested too deep for the JSON parser, numbers past
Python's digit limit, and template sources too deep to compile are each a 400 in the
error shape of their path (the envelope; Hasura's and GoMail's on theirs)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.body_shape import check_body_shape
from api.errors import BadRequest
from models import Email
from tests.conftest import Keys

SEND: dict[str, Any] = {"from": "a@example.com", "to": "b@example.com", "subject": "s"}
DEEP_BODY = b"[" * 100_000
BIG_NUMBER = (
    b'{"from": "a@example.com", "to": "b@example.com", "subject": "s", "html": "{{ x }}",'
    b' "variables": {"x": ' + b"9" * 5_000 + b"}}"
)
DEPTH = "request body: JSON nested more than 100 levels deep"
DIGITS = "request body: a number has more than 4300 digits"
GOMAIL = "/api/v1/email-service/send-email/"
WEBHOOKS = ["/webhooks/ses", "/webhooks/sendgrid"]


def _post(client: FlaskClient, keys: Keys, path: str, body: bytes, kind: str) -> Any:
    headers = {**keys.header("send"), "Content-Type": kind}
    return client.post(path, data=body, headers=headers)


def _stored(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Email)) or 0


@pytest.mark.parametrize(("body", "reason"), [(DEEP_BODY, DEPTH), (BIG_NUMBER, DIGITS)])
def test_on_send_it_is_a_400_in_the_envelope(
    client: FlaskClient, keys: Keys, db_session: Session, body: bytes, reason: str
) -> None:
    response = _post(client, keys, "/send", body, "application/json")
    assert response.status_code == 400
    assert response.get_json() == {"status": "error", "message": "invalid request", "error": reason}
    assert _stored(db_session) == 0


@pytest.mark.parametrize(("body", "reason"), [(DEEP_BODY, DEPTH), (BIG_NUMBER, DIGITS)])
def test_on_hasura_actions_it_is_a_400_in_hasuras_shape(
    client: FlaskClient, keys: Keys, body: bytes, reason: str
) -> None:
    response = _post(client, keys, "/hasura/actions", body, "application/json")
    assert response.status_code == 400
    assert response.get_json() == {
        "message": reason,
        "extensions": {"code": "invalid-request"},
    }


@pytest.mark.parametrize(("body", "reason"), [(DEEP_BODY, DEPTH), (BIG_NUMBER, DIGITS)])
def test_on_gomail_it_is_a_400_in_gomails_shape(
    client: FlaskClient, keys: Keys, body: bytes, reason: str
) -> None:
    response = _post(client, keys, GOMAIL, body, "application/json")
    assert response.status_code == 400
    assert response.get_json() == {"success": False, "message": reason, "email_id": None}


@pytest.mark.parametrize("path", WEBHOOKS)
@pytest.mark.parametrize("kind", ["text/plain; charset=UTF-8", "application/json"])
@pytest.mark.parametrize(("body", "reason"), [(DEEP_BODY, DEPTH), (BIG_NUMBER, DIGITS)])
def test_on_the_webhooks_it_is_a_400_whatever_the_content_type(
    client: FlaskClient, path: str, kind: str, body: bytes, reason: str
) -> None:
    response = client.post(path, data=body, headers={"Content-Type": kind})
    assert response.status_code == 400
    assert response.get_json() == {"status": "error", "message": "invalid request", "error": reason}


@pytest.mark.parametrize(
    "html",
    [
        "{{ " + "(" * 150 + "1" + ")" * 150 + " }}",  # RecursionError in Jinja's parser
        "{% if x %}" * 101 + "{% endif %}" * 101,  # IndentationError from Jinja's codegen
    ],
)
def test_a_template_too_deep_to_compile_is_a_400(
    client: FlaskClient, keys: Keys, db_session: Session, html: str
) -> None:
    body = json.dumps({**SEND, "html": html}).encode()
    response = _post(client, keys, "/send", body, "application/json")
    assert response.status_code == 400
    assert response.get_json() == {
        "status": "error",
        "message": "invalid request",
        "error": "Syntax error in inline html: expressions or blocks are nested too deeply",
    }
    assert _stored(db_session) == 0


def test_a_template_render_over_budget_is_a_400(
    client: FlaskClient, keys: Keys, db_session: Session
) -> None:
    body = json.dumps({**SEND, "html": "{{ 'a'|center(10**8) }}"}).encode()
    response = _post(client, keys, "/send", body, "application/json")
    assert response.status_code == 400
    assert response.get_json()["error"].startswith(
        "Inline content went over its render budget in its html: a result longer than"
    )
    assert _stored(db_session) == 0


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({"html": "[" * 500 + "{" * 500, "n": "9" * 9000}).encode(),  # text, not JSON
        json.dumps({"a": [[[[[[[[1]]]]]]]] * 1000, "b": 10**4000}).encode(),
        json.dumps({"a": "\\" * 99, "b": [[[]]]}).encode() + b" " * 5000,
        b"[" * 100 + b"]" * 100,
    ],
)
def test_bodies_within_the_limits_pass(body: bytes) -> None:
    check_body_shape(body)


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": "\\\\", "b": ' + b"[" * 101 + b"]" * 101 + b"}",  # an escaped backslash ends "a"
        b'{"a": {"b": ' * 60 + b"[" * 41 + b"]" * 41 + b"}}" * 60,  # objects and arrays
        b"[" * 101,
    ],
)
def test_bodies_past_the_depth_are_refused(body: bytes) -> None:
    with pytest.raises(BadRequest, match=DEPTH):
        check_body_shape(body)
