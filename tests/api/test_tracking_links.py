"""Tracking at the API's edge: refused where not configured, and the public endpoints refuse
tokens they did not sign (the end-to-end test follows real ones)."""

from __future__ import annotations

import uuid

from flask.testing import FlaskClient

from mailroom.config_tracking import TrackingSettings
from mailroom.tracking_links import TrackingLinks
from tests.conftest import Keys

BODY = {"from": "a@example.com", "to": "b@example.com", "subject": "s", "html": "<p>x</p>"}


def test_a_tracked_send_is_a_400_where_tracking_is_not_configured(
    client: FlaskClient, keys: Keys
) -> None:
    headers = keys.header("send")
    answer = client.post("/send", json={**BODY, "tracking": {"clicks": True}}, headers=headers)
    assert answer.status_code == 400, answer.json
    assert "tracking is not configured" in str(answer.json)
    # Asking for none is fine.
    answer = client.post("/send", json={**BODY, "tracking": {"opens": False}}, headers=headers)
    assert answer.status_code == 200, answer.json


def test_tokens_of_another_secret_or_kind_are_refused(client: FlaskClient) -> None:
    app = client.application
    ours = TrackingLinks("https://t.example", "k" * 40)
    app.config["TRACKING"] = TrackingSettings.model_construct(
        url="https://t.example", secret="k" * 40, opens=False, clicks=False
    )
    theirs = TrackingLinks("https://t.example", "x" * 40)
    email_id = uuid.uuid4()
    evil = theirs.click_url(email_id, "https://evil.example/")
    answer = client.get(evil.removeprefix("https://t.example"))
    assert answer.status_code == 404 and "Location" not in answer.headers
    # A pixel token is no click token (and the other way round).
    pixel = ours.open_url(email_id).removeprefix("https://t.example")
    token = pixel.removeprefix("/t/o/").removesuffix(".gif")
    assert client.get(f"/t/c/{token}").status_code == 404
    # A valid click for an email that is not (or no longer) here still redirects.
    good = ours.click_url(email_id, "https://shop.example/a").removeprefix("https://t.example")
    answer = client.get(good)
    assert answer.status_code == 302 and answer.headers["Location"] == "https://shop.example/a"
