"""One rule for text that ends up in a header, on every sending endpoint (api/header_text.py).

CR, LF, NUL, the other C0 controls, DEL, C1 controls, U+2028 and U+2029 in an address, display
name, subject, `X-` value, tag or attachment file name are a 400 naming the field, and nothing is
stored; attachment file names also refuse bidi controls and RFC 2047 encoded words. Before the
rule, most of these were a 200 whose email then failed in the worker, and a NUL a 500.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from api import create_app
from api.keys import create_key
from mailroom.migrate import upgrade
from models import Email
from models.db import make_engine, make_session_factory
from tests.api.test_gomail import FIELDS, SEND_EMAIL, assert_gomail_error, file_part
from tests.conftest import Keys

SEND: dict[str, Any] = {
    "from": "Mailroom <noreply@example.com>",
    "to": "ann@example.com",
    "subject": "Hello",
    "html": "<p>Hi</p>",
}

# (a `/send` body change, the error): one case per kind of field and of character.
REFUSED = [
    ({"subject": "Hi\x0bthere"}, "`subject` must not contain control characters (U+000B)"),
    ({"subject": "Hi\tthere"}, "`subject` must not contain control characters (U+0009)"),
    ({"subject": "Hi\x7f"}, "`subject` must not contain control characters (U+007F)"),
    ({"subject": "Hi\x85there"}, "`subject` must not contain control characters (U+0085)"),
    ({"subject": "Hi\u2028Bcc: x@example.com"}, "`subject` must not contain line breaks"),
    ({"subject": "Hi\u2029there"}, "`subject` must not contain line breaks"),
    ({"subject": "Hi\x00there"}, "`subject` must not contain control characters (U+0000)"),
    (
        {"headers": {"X-Campaign": "spring\x1b[31m"}},
        "`X-Campaign` must not contain control characters (U+001B)",
    ),
    ({"headers": {"X-Campaign": "a\u2028b"}}, "`X-Campaign` must not contain line breaks"),
    ({"tags": ["ok", "bad\x9b"]}, "`tags[1]` must not contain control characters (U+009B)"),
    ({"tags": ["a\nb"]}, "`tags[0]` must not contain line breaks"),
    (
        {"attachments": ["invoices/2026/report\x07.pdf"]},
        "`attachments[0]` must not contain control characters (U+0007)",
    ),
    (
        {"attachments": ["invoices/2026/ok.pdf", "invoices/2026/photo\u202egpj.exe"]},
        "`attachments[1]` must not contain bidirectional control characters (U+202E)",
    ),
    (
        {"attachments": ["invoices/2026/\u2067x.pdf"]},
        "`attachments[0]` must not contain bidirectional control characters (U+2067)",
    ),
    (
        {"attachments": ["invoices/2026/=?utf-8?b?aW52b2ljZS5leGU=?="]},
        "`attachments[0]` must not contain an RFC 2047 encoded word (`=?...?=`)",
    ),
    # Addresses keep the contract's text, naming the address with what it holds spelled out.
    ({"to": "ann@example.com\x01"}, "`ann@example.com\\x01` is not a valid email address"),
    # A NUL, wherever it is in a JSON body, is refused before the body is read, by its path.
    ({"to": ["ann@example.com\x00"]}, "`to[0]` must not contain control characters (U+0000)"),
    ({"cc": ["carol\x7f@example.com"]}, "`carol\\x7f@example.com` is not a valid email address"),
    (
        {"from": "Ann\u2028Bcc: x@example.com <ann@example.com>"},
        "`Ann\\u2028Bcc: x@example.com <ann@example.com>` is not a valid email address",
    ),
    (
        {"replyTo": "Help\x85Desk <help@example.com>"},
        "`Help\\x85Desk <help@example.com>` is not a valid email address",
    ),
    ({"bcc": "Ann\x1f <a@example.com>"}, "`Ann\\x1f <a@example.com>` is not a valid email address"),
    # A NUL in what is no header still cannot be stored: named by where it is.
    ({"html": "<p>a\x00b</p>"}, "`html` must not contain control characters (U+0000)"),
    (
        {"variables": {"NAME": "a\x00"}},
        "`variables.NAME` must not contain control characters (U+0000)",
    ),
]


def stored(session: Session) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(Email)) or 0)


def assert_refused(response: Any, error: str, session: Session) -> None:
    assert response.status_code == 400, response.get_json()
    assert response.get_json() == {"status": "error", "message": "invalid request", "error": error}
    assert stored(session) == 0


@pytest.mark.parametrize(("change", "error"), REFUSED)
def test_send_refuses_and_names_the_field(
    client: FlaskClient,
    keys: Keys,
    db_session: Session,
    storage_root: Path,
    change: dict[str, Any],
    error: str,
) -> None:
    # The attachments exist, so only their names can be what is refused.
    for key in change.get("attachments", []):
        (storage_root / key).parent.mkdir(parents=True, exist_ok=True)
        (storage_root / key).write_bytes(b"%PDF-1.4")
    response = client.post("/send", json={**SEND, **change}, headers=keys.header("send"))
    assert_refused(response, error, db_session)


def test_what_the_rule_allows_still_sends(
    client: FlaskClient, keys: Keys, db_session: Session, storage_root: Path
) -> None:
    (storage_root / "invoices").mkdir()
    (storage_root / "invoices" / "Rechnung März ?=.pdf").write_bytes(b"%PDF-1.4")
    body = {
        **SEND,
        "from": "José Müller <noreply@example.com>",
        "subject": "Grüße — 東京 «ok» =?not-a-word",
        "headers": {"X-Campaign": "spring-2026"},
        "tags": ["welcome", "é"],
        "attachments": ["invoices/Rechnung März ?=.pdf"],
    }
    response = client.post("/send", json=body, headers=keys.header("send"))
    assert response.status_code == 200, response.get_json()
    assert stored(db_session) == 1


@pytest.mark.parametrize(("change", "error"), REFUSED[:12])
def test_batch_refuses_message_fields(
    client: FlaskClient, keys: Keys, db_session: Session, change: dict[str, Any], error: str
) -> None:
    body = {**{k: v for k, v in SEND.items() if k != "to"}, **change}
    body["recipients"] = [{"to": "ann@example.com"}]
    response = client.post("/send/batch", json=body, headers=keys.header("send"))
    assert_refused(response, error, db_session)


@pytest.mark.parametrize(
    ("recipient", "error"),
    [
        (
            {"to": "Bob\u2028 <bob@example.com>"},
            "`recipients[1].to`: `Bob\\u2028 <bob@example.com>` is not a valid email address",
        ),
        (
            {"to": "bob@example.com", "cc": "c\x00@example.com"},
            "`recipients[1].cc` must not contain control characters (U+0000)",
        ),
    ],
)
def test_batch_names_the_recipient(
    client: FlaskClient, keys: Keys, db_session: Session, recipient: dict[str, Any], error: str
) -> None:
    body = {**{k: v for k, v in SEND.items() if k != "to"}}
    body["recipients"] = [{"to": "ann@example.com"}, recipient]
    response = client.post("/send/batch", json=body, headers=keys.header("send"))
    assert_refused(response, error, db_session)


def test_list_send_refuses_a_bad_tag(client: FlaskClient, keys: Keys, db_session: Session) -> None:
    auth = keys.header("send")
    created = client.post("/lists", json={"name": "customers"}, headers=auth)
    list_id = created.get_json()["data"]["listId"]
    body = {**{k: v for k, v in SEND.items() if k != "to"}, "listId": list_id, "tags": ["a\x80"]}
    response = client.post("/send/batch", json=body, headers=auth)
    assert_refused(response, "`tags[0]` must not contain control characters (U+0080)", db_session)


@pytest.mark.parametrize(
    ("change", "error"), REFUSED[:6] + [c for c in REFUSED if "valid email" in c[1]]
)
def test_hasura_send_email_refuses_alike(
    client: FlaskClient, keys: Keys, db_session: Session, change: dict[str, Any], error: str
) -> None:
    body = {
        "action": {"name": "sendEmail"},
        "input": {"input": {**SEND, **change}},
        "session_variables": {"x-hasura-role": "user"},
    }
    response = client.post("/hasura/actions", json=body, headers=keys.header("send"))
    assert response.status_code == 400, response.get_json()
    assert response.get_json() == {"message": error, "extensions": {"code": "invalid-request"}}
    assert stored(db_session) == 0


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("subject", "Report\x0b", "`subject` must not contain control characters (U+000B)"),
        ("subject", "Report\u2029", "`subject` must not contain line breaks"),
        ("subject", "Report\x00", "`subject` must not contain control characters (U+0000)"),
        ("body", "<p>\x00</p>", "`body` must not contain control characters (U+0000)"),
        (
            "to_addresses",
            "ann@example.com\x7f",
            "`ann@example.com\\x7f` is not a valid email address",
        ),
        (
            "from_address",
            "Reports\u2028 <reports@example.com>",
            "`Reports\\u2028 <reports@example.com>` is not a valid email address",
        ),
    ],
)
@pytest.mark.parametrize("encoding", ["json", "multipart"])
def test_gomail_refuses_fields(
    client: FlaskClient,
    keys: Keys,
    db_session: Session,
    storage_root: Path,
    field: str,
    value: str,
    error: str,
    encoding: str,
) -> None:
    fields: dict[str, Any] = {**FIELDS, field: value}
    if encoding == "json":
        response = client.post(SEND_EMAIL, json=fields, headers=keys.header("send"))
    else:
        fields["attachment"] = file_part(b"%PDF-1.4", "report.pdf")
        response = client.post(
            SEND_EMAIL, data=fields, headers=keys.header("send"), content_type="multipart/form-data"
        )
    assert_gomail_error(response, 400, error, db_session, storage_root)


@pytest.mark.parametrize(
    ("filename", "error"),
    [
        ("report\x07.pdf", "`attachment.filename` must not contain control characters (U+0007)"),
        ("report\u2028.pdf", "`attachment.filename` must not contain line breaks"),
        (
            "photo\u202egpj.exe",
            "`attachment.filename` must not contain bidirectional control characters (U+202E)",
        ),
        (
            "\u200finvoice.pdf",
            "`attachment.filename` must not contain bidirectional control characters (U+200F)",
        ),
        (
            "=?utf-8?b?aW52b2ljZS5leGU=?=",
            "`attachment.filename` must not contain an RFC 2047 encoded word (`=?...?=`)",
        ),
    ],
)
def test_gomail_refuses_upload_names_and_keeps_no_file(
    client: FlaskClient,
    keys: Keys,
    db_session: Session,
    storage_root: Path,
    filename: str,
    error: str,
) -> None:
    data = {
        **FIELDS,
        "first": file_part(b"%PDF-1.4 fine", "fine.pdf"),
        "attachment": file_part(b"%PDF-1.4 bad", filename),
    }
    response = client.post(
        SEND_EMAIL, data=data, headers=keys.header("send"), content_type="multipart/form-data"
    )
    assert_gomail_error(response, 400, error, db_session, storage_root)


@pytest.fixture
def pg_app(pg_url: str, storage_root: Path) -> Iterator[Flask]:
    """The API on a migrated PostgreSQL database, which refuses a NUL in any text column."""
    upgrade(pg_url)
    app = create_app({"TESTING": True, "DATABASE_URL": pg_url, "STORAGE_LOCAL_ROOT": storage_root})
    yield app
    app.extensions["mailroom.engine"].dispose()


@pytest.fixture
def pg_sessions(pg_url: str) -> Iterator[sessionmaker[Session]]:
    """Sessions on the same database, for keys and for looking at what was stored."""
    engine = make_engine(pg_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.mark.postgres
def test_a_nul_is_a_400_not_a_500_on_postgresql(
    pg_app: Flask, pg_sessions: sessionmaker[Session], storage_root: Path
) -> None:
    client = pg_app.test_client()
    with pg_sessions() as session:
        _, plaintext = create_key(session, "test", ["send"])
        session.commit()
    auth = {"Authorization": f"Bearer {plaintext}"}
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("/send", {**SEND, "subject": "a\x00b"}, "`subject`"),
        ("/send", {**SEND, "text": "a\x00b", "html": None}, "`text`"),
        ("/send", {**SEND, "tags": ["x\x00"]}, "`tags[0]`"),
        (
            "/send/batch",
            {
                **{k: v for k, v in SEND.items() if k != "to"},
                "recipients": [{"to": "a@example.com", "variables": {"V": "\x00"}}],
            },
            "`recipients[0].variables.V`",
        ),
        (
            "/hasura/actions",
            {"action": {"name": "sendEmail"}, "input": {**SEND, "html": "\x00"}},
            "`input.html`",
        ),
    ]
    for path, body, field in cases:
        response = client.post(path, json=body, headers=auth)
        assert response.status_code == 400, (path, response.get_json())
        assert f"{field} must not contain control characters (U+0000)" in response.get_data(
            as_text=True
        )
    gomail = client.post(
        SEND_EMAIL,
        data={**FIELDS, "body": "<p>\x00</p>", "attachment": file_part(b"%PDF-1.4", "r.pdf")},
        headers=auth,
        content_type="multipart/form-data",
    )
    assert gomail.status_code == 400
    assert gomail.get_json()["message"] == "`body` must not contain control characters (U+0000)"
    # And nothing was stored, while a normal send right after works.
    assert [p for p in storage_root.rglob("*") if p.is_file()] == []
    ok = client.post("/send", json=SEND, headers=auth)
    assert ok.status_code == 200, ok.get_json()
    with pg_sessions() as session:
        assert stored(session) == 1


def test_a_template_names_its_attachments_and_subject_alike(
    client: FlaskClient, keys: Keys
) -> None:
    auth = keys.header("templates")
    base = {"name": "receipt", "subject": "Receipt", "html": "<p>Thanks</p>"}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"subject": "Receipt\x1b"}, "`subject` must not contain control characters (U+001B)"),
        (
            {"attachments": ["terms/\u202etxt.exe"]},
            "`attachments[0]` must not contain bidirectional control characters (U+202E)",
        ),
    ]
    for change, error in cases:
        response = client.post("/templates", json={**base, **change}, headers=auth)
        assert response.status_code == 400, response.get_json()
        assert response.get_json()["error"] == error
