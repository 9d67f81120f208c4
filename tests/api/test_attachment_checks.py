"""Attachments are checked when the request arrives: names, existence and total size."""

from __future__ import annotations

from pathlib import Path

from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api import create_app
from models import Email
from tests.conftest import Keys

BODY = {"from": "a@example.com", "to": "b@example.com", "subject": "s", "text": "t"}


def test_denied_extension_is_400(
    client: FlaskClient, keys: Keys, storage_root: Path, db_session: Session
) -> None:
    (storage_root / "files").mkdir()
    (storage_root / "files" / "setup.exe").write_bytes(b"MZ")
    response = client.post(
        "/send", json={**BODY, "attachments": ["files/setup.exe"]}, headers=keys.header("send")
    )
    assert response.status_code == 400
    assert (
        response.get_json()["error"] == "attachment `files/setup.exe` is not allowed (.exe files)"
    )
    assert db_session.scalar(select(func.count()).select_from(Email)) == 0


def test_attachments_over_the_limit_are_413(sqlite_url: str, storage_root: Path) -> None:
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": sqlite_url,
            "STORAGE_LOCAL_ROOT": storage_root,
            "MAX_ATTACHMENTS_BYTES": 1000,
        }
    )
    (storage_root / "files").mkdir()
    (storage_root / "files" / "a.bin").write_bytes(b"x" * 600)
    (storage_root / "files" / "b.bin").write_bytes(b"y" * 600)
    client = app.test_client()
    auth = Keys(app).header("send")
    ok = client.post("/send", json={**BODY, "attachments": ["files/a.bin"]}, headers=auth)
    assert ok.status_code == 200, ok.get_json()
    both = client.post(
        "/send", json={**BODY, "attachments": ["files/a.bin", "files/b.bin"]}, headers=auth
    )
    assert both.status_code == 413
    assert both.get_json() == {
        "status": "error",
        "message": "payload too large",
        "error": "attachments total 1200 bytes, over the limit of 1000 bytes",
    }
