"""`/u/<token>` in the app: open without a key, GET changes nothing, limited per client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from api import create_app
from api.db import db
from mailroom import unsubscribe
from mailroom.config import get_settings
from models import Suppression


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("MAILROOM_UNSUBSCRIBE_SECRET", "api-test-secret")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def entries(app: Flask) -> list[tuple[str, str, str]]:
    with app.app_context():
        rows = db().scalars(select(Suppression))
        return [(r.address, r.reason, r.source) for r in rows]


def test_get_shows_a_button_and_post_suppresses(app: Flask) -> None:
    client = app.test_client()
    token = unsubscribe.make_token(get_settings(), "Ann@Example.com", "sender:news@example.com")
    page = client.get(f"/u/{token}")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert b'<form method="post">' in page.data
    assert entries(app) == []
    # The page's button: a browser's form POST gets a page back.
    done = client.post(
        f"/u/{token}", data={"List-Unsubscribe": "One-Click"}, headers={"Accept": "text/html"}
    )
    assert done.status_code == 200 and b"will get no more" in done.data
    assert entries(app) == [("ann@example.com", "unsubscribe", "unsubscribe")]
    # A provider's POST: JSON, and the same answer when repeated.
    again = client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
    assert again.get_json() == {
        "status": "success",
        "message": "Unsubscribed",
        "data": {"address": "ann@example.com", "scope": "sender:news@example.com"},
    }


def test_a_bad_token_is_400_in_the_envelope(app: Flask) -> None:
    answer = app.test_client().post("/u/not-a-token", data={"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 400
    assert answer.get_json() == {
        "status": "error",
        "message": "invalid request",
        "error": "the unsubscribe link is not valid",
    }
    assert entries(app) == []


def test_limited_per_client_address(sqlite_url: str, storage_root: Path) -> None:
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": sqlite_url,
            "RATE_LIMIT": "2/minute",
            "STORAGE_LOCAL_ROOT": storage_root,
        }
    )
    client = app.test_client()
    statuses = [client.post("/u/x").status_code for _ in range(3)]
    assert statuses == [400, 400, 429]
