"""A test client signed in to the console, and the CSRF token of a page's form."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import Keys

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = _TOKEN.search(html)
    assert found, html
    return found.group(1)


class Console:
    """A test client signed in to the console with a new key of `scopes`."""

    def __init__(self, app: Flask, keys: Keys, *scopes: str) -> None:
        self.client: FlaskClient = app.test_client()
        self.bearer = keys.header(*scopes)
        self.key = self.bearer["Authorization"].removeprefix("Bearer ")
        form = self.client.get("/console/sign-in")
        answer = self.client.post(
            "/console/sign-in", data={"api_key": self.key, "csrf_token": csrf_of(form.text)}
        )
        assert answer.status_code == 303, answer.text

    def post(self, path: str, page: str, **data: str) -> Any:
        """POST a form found on `page`, with that page's CSRF token."""
        token = csrf_of(self.client.get(page).text)
        return self.client.post(path, data={"csrf_token": token, **data})

    def send(self, **body: Any) -> str:
        """Send through the API with this key; the new email's id."""
        payload = {
            "from": "ops@example.com",
            "to": "alice@example.com",
            "subject": "Hi",
            "text": "Hello",
        }
        payload.update(body)
        answer = self.client.post("/send", json=payload, headers=self.bearer)
        assert answer.status_code == 200, answer.text
        return str(answer.get_json()["data"]["emailId"])
