"""Rate and size limits answer in the envelope: 429 with Retry-After, 413, 400."""

from __future__ import annotations

from pathlib import Path

from api import create_app
from tests.conftest import Keys

BODY = {"from": "a@example.com", "to": "b@example.com", "subject": "s", "text": "t"}


def test_rate_limit_is_per_key_with_retry_after(sqlite_url: str, storage_root: Path) -> None:
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": sqlite_url,
            "RATE_LIMIT": "3/minute",
            "STORAGE_LOCAL_ROOT": storage_root,
        }
    )
    client, keys = app.test_client(), Keys(app)
    first, second = keys.header("read"), keys.header("read")
    statuses = [client.get("/emails", headers=first).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = client.get("/emails", headers=first)
    assert limited.get_json() == {
        "status": "error",
        "message": "too many requests",
        "error": "rate limit exceeded: 3 per 1 minute",
    }
    assert 0 < int(limited.headers["Retry-After"]) <= 60
    assert client.get("/emails", headers=second).status_code == 200  # another key, own budget
    assert all(client.get("/health").status_code == 200 for _ in range(10))


def test_body_over_the_size_limit_is_413(sqlite_url: str, storage_root: Path) -> None:
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": sqlite_url,
            "MAX_CONTENT_LENGTH": 1000,
            "STORAGE_LOCAL_ROOT": storage_root,
        }
    )
    response = app.test_client().post(
        "/send", json={**BODY, "text": "x" * 2000}, headers=Keys(app).header("send")
    )
    assert response.status_code == 413
    assert response.get_json() == {
        "status": "error",
        "message": "payload too large",
        "error": "the request body is larger than 1000 bytes",
    }


def test_too_many_recipients(sqlite_url: str, storage_root: Path) -> None:
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": sqlite_url,
            "MAX_RECIPIENTS": 3,
            "STORAGE_LOCAL_ROOT": storage_root,
        }
    )
    response = app.test_client().post(
        "/send",
        json={**BODY, "to": "a@x.com b@x.com", "cc": ["c@x.com"], "bcc": "d@x.com"},
        headers=Keys(app).header("send"),
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "too many recipients: 4 (at most 3 per email)"
