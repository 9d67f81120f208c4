"""The GoMail-compatible endpoint: GoMail's fields and answers, uploads in storage, no envelope."""

from __future__ import annotations

import io
import uuid
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from api import create_app
from models import Email
from storage import StorageError
from tasks.publish import PublishError
from tests.conftest import Keys

PATHS = ["/api/v1/email-service/send-email/", "/api/v1/email-service/send-mail/"]
SEND_EMAIL = PATHS[0]
FIELDS = {
    "from_address": "Reports <reports@example.com>",
    "to_addresses": "ann@example.com bob@example.org",
    "cc_addresses": "carol@example.net",
    "bcc_addresses": "dave@example.com  erin@example.com",
    "subject": "Monthly report",
    # GoMail's body is HTML as sent, never a template.
    "body": "<p>Totals for {{ month }} are attached.</p>",
}


def emails(session: Session) -> list[Email]:
    session.expire_all()
    return list(session.scalars(select(Email)))


def stored_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def assert_gomail_error(
    response: Any, status: int, message: str, session: Session, storage_root: Path
) -> None:
    """GoMail's error shape, and nothing left behind: no row, no uploaded file."""
    assert response.status_code == status, response.get_json()
    assert response.get_json() == {"success": False, "message": message, "email_id": None}
    assert session.scalar(select(func.count()).select_from(Email)) == 0
    assert stored_files(storage_root) == []


def file_part(data: bytes, filename: str, content_type: str | None = None) -> Any:
    return (
        (io.BytesIO(data), filename, content_type) if content_type else (io.BytesIO(data), filename)
    )


@pytest.mark.parametrize("path", PATHS)
def test_json_is_queued_with_recipients_split(
    client: FlaskClient, keys: Keys, db_session: Session, path: str
) -> None:
    response = client.post(path, json=FIELDS, headers=keys.header("send"))

    assert response.status_code == 200, response.get_json()
    answer = response.get_json()
    assert answer == {
        "success": True,
        "message": "Email queued successfully",
        "email_id": answer["email_id"],
    }
    [email] = emails(db_session)
    assert str(email.id) == answer["email_id"]
    assert email.status.value == "queued"
    assert email.from_addr == "Reports <reports@example.com>"
    assert email.to_addrs == ["ann@example.com", "bob@example.org"]
    assert email.cc_addrs == ["carol@example.net"]
    assert email.bcc_addrs == ["dave@example.com", "erin@example.com"]
    assert email.subject == "Monthly report"
    assert email.html == "<p>Totals for {{ month }} are attached.</p>"
    assert email.text is None  # derived by the pipeline's render step
    assert email.attachment_keys == []


@pytest.mark.parametrize("path", PATHS)
def test_multipart_files_are_stored_and_attached(
    client: FlaskClient, keys: Keys, db_session: Session, storage_root: Path, path: str
) -> None:
    response = client.post(
        path,
        data={
            **FIELDS,
            # Any field name is an attachment; repeated names and file names too.
            "attachment": [
                file_part(b"%PDF-1.4 report", "report.pdf", "application/pdf"),
                file_part(b"second,report\n", "report.pdf"),
            ],
            "extra": file_part(b"id,total\n1,42\n", "../../etc/totals.csv", "text/csv"),
        },
        headers=keys.header("send"),
        content_type="multipart/form-data",
    )

    assert response.status_code == 200, response.get_json()
    email_id = response.get_json()["email_id"]
    [email] = emails(db_session)
    assert str(email.id) == email_id
    folder = f"mailroom-uploads/gomail/{email_id}"
    assert email.attachment_keys == [
        f"{folder}/report.pdf",
        f"{folder}/report-2.pdf",
        f"{folder}/totals.csv",
    ]
    assert [p.relative_to(storage_root).as_posix() for p in stored_files(storage_root)] == sorted(
        email.attachment_keys
    )
    assert (storage_root / folder / "report.pdf").read_bytes() == b"%PDF-1.4 report"
    assert (storage_root / folder / "report-2.pdf").read_bytes() == b"second,report\n"
    assert (storage_root / folder / "totals.csv").read_bytes() == b"id,total\n1,42\n"
    assert email.to_addrs == ["ann@example.com", "bob@example.org"]
    assert email.bcc_addrs == ["dave@example.com", "erin@example.com"]


def test_uploads_bucket_is_configurable(sqlite_url: str, storage_root: Path) -> None:
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": sqlite_url,
            "STORAGE_LOCAL_ROOT": storage_root,
            "UPLOADS_BUCKET": "gomail-files",
        }
    )
    response = app.test_client().post(
        SEND_EMAIL,
        data={**FIELDS, "file": file_part(b"hello", "hello.txt")},
        headers=Keys(app).header("send"),
    )
    assert response.status_code == 200, response.get_json()
    email_id = response.get_json()["email_id"]
    assert (storage_root / "gomail-files" / "gomail" / email_id / "hello.txt").read_bytes() == (
        b"hello"
    )


def test_empty_optional_form_fields_mean_none(
    client: FlaskClient, keys: Keys, db_session: Session, app: Flask
) -> None:
    app.config["DEFAULT_FROM"] = "Mailroom <noreply@example.com>"
    data = {**FIELDS, "from_address": "", "cc_addresses": "", "bcc_addresses": ""}
    response = client.post(SEND_EMAIL, data=data, headers=keys.header("send"))
    assert response.status_code == 200, response.get_json()
    [email] = emails(db_session)
    assert email.from_addr == "Mailroom <noreply@example.com>"
    assert (email.cc_addrs, email.bcc_addrs) == ([], [])


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("to_addresses", None, "`to_addresses`: Missing data for required field."),
        ("to_addresses", "", "`to_addresses` needs at least one address"),
        ("subject", None, "`subject`: Missing data for required field."),
        ("body", None, "`body`: Missing data for required field."),
        (
            "to_addresses",
            "ann@example.com not-an-address",
            "`not-an-address` is not a valid email address",
        ),
        ("cc_addresses", "carol at example.com", "`carol` is not a valid email address"),
        ("bcc_addresses", "@example.com", "`@example.com` is not a valid email address"),
        ("from_address", "Reports <nope>", "`nope` is not a valid email address"),
        ("subject", "Hi\r\nBcc: victim@example.com", "`subject` must not contain line breaks"),
        ("colour", "blue", "`colour`: Unknown field."),
    ],
)
@pytest.mark.parametrize("encoding", ["json", "multipart"])
def test_bad_fields_are_400_in_the_contract_words(
    client: FlaskClient,
    keys: Keys,
    db_session: Session,
    storage_root: Path,
    field: str,
    value: str | None,
    message: str,
    encoding: str,
) -> None:
    fields: dict[str, Any] = {k: v for k, v in FIELDS.items() if k != field}
    if value is not None:
        fields[field] = value
    if encoding == "json":
        response = client.post(SEND_EMAIL, json=fields, headers=keys.header("send"))
    else:
        fields["attachment"] = file_part(b"%PDF-1.4", "report.pdf")
        response = client.post(
            SEND_EMAIL, data=fields, headers=keys.header("send"), content_type="multipart/form-data"
        )
    assert_gomail_error(response, 400, message, db_session, storage_root)


def test_missing_sender_without_default(
    client: FlaskClient, keys: Keys, db_session: Session, storage_root: Path
) -> None:
    fields = {k: v for k, v in FIELDS.items() if k != "from_address"}
    response = client.post(SEND_EMAIL, json=fields, headers=keys.header("send"))
    message = "`from_address` is required (no default sender is configured)"
    assert_gomail_error(response, 400, message, db_session, storage_root)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"data": "{not json", "content_type": "application/json"}, "the body is not valid JSON"),
        ({"json": ["a list"]}, "the body must be a JSON object"),
        (
            {"data": "to_addresses=a@example.com", "content_type": "text/plain"},
            "send the fields as application/json or multipart/form-data",
        ),
    ],
)
def test_unreadable_bodies_are_400(
    client: FlaskClient,
    keys: Keys,
    db_session: Session,
    storage_root: Path,
    kwargs: dict[str, Any],
    message: str,
) -> None:
    response = client.post(SEND_EMAIL, headers=keys.header("send"), **kwargs)
    assert_gomail_error(response, 400, message, db_session, storage_root)


def test_a_denied_file_is_400_and_nothing_is_stored(
    client: FlaskClient, keys: Keys, db_session: Session, storage_root: Path
) -> None:
    response = client.post(
        SEND_EMAIL,
        data={
            **FIELDS,
            "a": file_part(b"%PDF-1.4", "fine.pdf"),
            "b": file_part(b"MZ\x90\x00" + bytes(300), "invoice.pdf"),
        },
        headers=keys.header("send"),
    )
    message = "attachment `invoice.pdf` is not allowed (application/x-msdownload)"
    assert_gomail_error(response, 400, message, db_session, storage_root)


@pytest.mark.parametrize("path", PATHS)
def test_no_key_is_401_and_wrong_scope_is_403(
    client: FlaskClient, keys: Keys, db_session: Session, storage_root: Path, path: str
) -> None:
    def upload() -> dict[str, Any]:
        return {**FIELDS, "attachment": file_part(b"%PDF-1.4", "report.pdf")}

    none = client.post(path, data=upload())
    assert_gomail_error(none, 401, "missing Bearer API key", db_session, storage_root)
    bogus = client.post(path, json=FIELDS, headers={"Authorization": "Bearer mr_abc_def"})
    assert_gomail_error(bogus, 401, "unknown or revoked API key", db_session, storage_root)
    read_only = client.post(path, data=upload(), headers=keys.header("read", "templates"))
    message = "this API key lacks the `send` scope"
    assert_gomail_error(read_only, 403, message, db_session, storage_root)


@pytest.mark.parametrize("path", PATHS)
def test_get_is_405_in_gomail_shape(
    client: FlaskClient, keys: Keys, db_session: Session, storage_root: Path, path: str
) -> None:
    response = client.get(path, headers=keys.header("send"))
    assert_gomail_error(
        response, 405, "method not allowed for this endpoint", db_session, storage_root
    )
    assert "POST" in response.headers["Allow"]
    # Elsewhere the envelope is unchanged.
    assert client.get("/send").get_json()["message"] == "method not allowed"


def test_files_over_the_limit_are_413(sqlite_url: str, storage_root: Path) -> None:
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": sqlite_url,
            "STORAGE_LOCAL_ROOT": storage_root,
            "MAX_ATTACHMENTS_BYTES": 1000,
        }
    )
    client, auth = app.test_client(), Keys(app).header("send")
    # The limit is on the total: two files that each fit do not fit together.
    two = {"a": file_part(b"x" * 600, "a.txt"), "b": file_part(b"y" * 600, "b.txt")}
    response = client.post(SEND_EMAIL, data={**FIELDS, **two}, headers=auth)
    with Keys(app).sessions() as session:
        message = "attachments total 1200 bytes, over the limit of 1000 bytes"
        assert_gomail_error(response, 413, message, session, storage_root)
    exactly = {"a": file_part(b"x" * 1000, "a.txt")}
    assert client.post(SEND_EMAIL, data={**FIELDS, **exactly}, headers=auth).status_code == 200


@pytest.mark.parametrize("encoding", ["json", "multipart"])
def test_a_body_over_the_request_limit_is_413(
    sqlite_url: str, storage_root: Path, encoding: str
) -> None:
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": sqlite_url,
            "STORAGE_LOCAL_ROOT": storage_root,
            "MAX_CONTENT_LENGTH": 1000,
        }
    )
    client, auth = app.test_client(), Keys(app).header("send")
    if encoding == "json":
        response = client.post(SEND_EMAIL, json={**FIELDS, "body": "x" * 2000}, headers=auth)
    else:
        data = {**FIELDS, "attachment": file_part(b"x" * 2000, "big.bin")}
        response = client.post(SEND_EMAIL, data=data, headers=auth)
    with Keys(app).sessions() as session:
        message = "the request body is larger than 1000 bytes"
        assert_gomail_error(response, 413, message, session, storage_root)


def test_broker_down_is_200_and_the_email_stays_stored(
    client: FlaskClient,
    keys: Keys,
    db_session: Session,
    storage_root: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(email_ids: Any, *_: Any, **__: Any) -> None:
        raise PublishError("broker down", email_ids)

    monkeypatch.setattr("tasks.publish.enqueue", refuse)
    response = client.post(
        SEND_EMAIL,
        data={**FIELDS, "attachment": file_part(b"%PDF-1.4", "report.pdf")},
        headers=keys.header("send"),
    )

    # The committed row is the outbox: a stored email is an accepted one, and an error here
    # would make a retrying client send it twice.
    assert response.status_code == 200
    answer = response.get_json()
    [email] = emails(db_session)
    assert answer == {
        "success": True,
        "message": "Email queued successfully",
        "email_id": str(email.id),
    }
    # Stored, so the sweeper sends it: the uploads must stay with it.
    assert email.status.value == "queued"
    assert email.enqueued_at is None
    [upload] = stored_files(storage_root)
    assert upload.relative_to(storage_root).as_posix() == email.attachment_keys[0]
    assert uuid.UUID(email.attachment_keys[0].split("/")[2]) == email.id


class FailingSecondWrite:
    """The app's real storage, except that the second write of a request fails."""

    def __init__(self, storage: Any) -> None:
        self.storage = storage
        self.writes = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.storage, name)

    def write(self, key: str, data: bytes, content_type: str | None = None) -> Any:
        self.writes += 1
        if self.writes == 2:
            raise StorageError("disk full", key=key)
        return self.storage.write(key, data, content_type)


def test_uploads_written_before_a_storage_failure_are_removed(
    app: Flask, client: FlaskClient, keys: Keys, db_session: Session, storage_root: Path
) -> None:
    app.extensions["mailroom.storage"] = FailingSecondWrite(app.extensions["mailroom.storage"])
    data = {
        **FIELDS,
        "a": file_part(b"%PDF-1.4 one", "one.pdf"),
        "b": file_part(b"%PDF-1.4 two", "two.pdf"),
    }
    response = client.post(
        SEND_EMAIL, data=data, headers=keys.header("send"), content_type="multipart/form-data"
    )
    assert response.status_code == 503
    assert response.get_json()["message"].startswith("object storage unavailable: disk full")
    assert stored_files(storage_root) == []
    assert emails(db_session) == []


def test_uploads_are_removed_when_the_email_cannot_be_stored(
    app: Flask, client: FlaskClient, keys: Keys, db_session: Session, storage_root: Path
) -> None:
    auth = keys.header("send")
    # A real database failure after the uploads are written: the emails table is gone.
    db_session.execute(text("ALTER TABLE emails RENAME TO emails_away"))
    db_session.commit()
    data = {**FIELDS, "attachment": file_part(b"%PDF-1.4", "report.pdf")}
    response = client.post(SEND_EMAIL, data=data, headers=auth, content_type="multipart/form-data")
    assert response.status_code == 503, response.get_json()
    assert response.get_json() == {
        "success": False,
        "message": "database unavailable",
        "email_id": None,
    }
    assert stored_files(storage_root) == []
