"""`POST /send`'s answer: the contract's message on every 200, and a body that is built before
the commit, so content that cannot be finished is a 400 that stores nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Email
from tests.conftest import Keys

BODY: dict[str, Any] = {"from": "a@example.com", "to": "b@example.com", "subject": "s"}


def test_every_200_says_queued_and_data_status_tells_them_apart(
    client: FlaskClient, keys: Keys
) -> None:
    admin = keys.header("send", "admin")
    added = client.post("/suppressions", json={"address": "gone@example.com"}, headers=admin)
    assert added.status_code in (200, 201), added.get_json()
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    for fields, status in (
        ({}, "queued"),
        ({"sendAt": later}, "scheduled"),
        ({"to": "gone@example.com"}, "suppressed"),
    ):
        response = client.post("/send", json={**BODY, "text": "t", **fields}, headers=admin)
        assert response.status_code == 200, response.get_json()
        answer = response.get_json()
        assert answer["message"] == "Email queued successfully", answer
        assert answer["data"]["status"] == status


def test_a_style_that_cannot_be_applied_is_a_400_and_stores_nothing(
    client: FlaskClient, keys: Keys, db_session: Session
) -> None:
    response = client.post(
        "/send",
        json={**BODY, "html": "<p>x</p>", "customStyle": "p { background: url(https://x.test/a) }"},
        headers=keys.header("send"),
    )
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"].startswith("customStyle may not use `url()`")
    assert db_session.scalar(select(func.count()).select_from(Email)) == 0


def test_the_body_carries_the_style_and_the_replay_repeats_it(
    client: FlaskClient, keys: Keys
) -> None:
    auth = {**keys.header("send"), "Idempotency-Key": "styled"}
    body = {**BODY, "html": "<p>x</p>", "customStyle": "p { color: red }"}
    first = client.post("/send", json=body, headers=auth)
    assert first.status_code == 200, first.get_json()
    assert first.get_json()["data"]["body"] == '<p style="color: red;">x</p>'
    again = client.post("/send", json=body, headers=auth)
    assert again.get_json() == first.get_json()


def test_a_brand_that_cannot_wrap_the_body_is_a_400_and_stores_nothing(
    client: FlaskClient, keys: Keys, db_session: Session
) -> None:
    auth = keys.header("send", "templates")
    brand = client.post(
        "/brands",
        json={"name": "Broken", "header": "<div>{{ brandName.nope() }}</div>"},
        headers=auth,
    )
    assert brand.status_code == 201, brand.get_json()
    template = client.post(
        "/templates",
        json={
            "name": "branded",
            "subject": "Hi",
            "html": "<p>Hello</p>",
            "brandId": brand.get_json()["data"]["brandId"],
            "brandStyles": True,
        },
        headers=auth,
    )
    assert template.status_code == 201, template.get_json()
    template_id = template.get_json()["data"]["templateId"]
    response = client.post(
        "/send",
        json={"from": "a@example.com", "to": "b@example.com", "templateId": template_id},
        headers=auth,
    )
    assert response.status_code == 400, response.get_json()
    assert "Brand" in response.get_json()["error"], response.get_json()
    assert db_session.scalar(select(func.count()).select_from(Email)) == 0
