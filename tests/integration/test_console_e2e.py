"""The console against the real processes: gunicorn's workers share sessions, and a resent
email is delivered by a worker like the first."""

from __future__ import annotations

import email
import email.policy
import http.cookiejar
import re
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.support.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.rabbitmq]
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


class Browser:
    """A cookie-keeping HTTP client, as a browser without JavaScript."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def get(self, path: str) -> tuple[str, str]:
        """The page's final URL (after redirects) and its HTML."""
        with self.opener.open(self.base + path, timeout=30) as answer:
            return answer.geturl(), answer.read().decode()

    def submit(self, page: str, action: str, **fields: str) -> tuple[str, str]:
        """POST a form of `page` with its CSRF token; the final URL and HTML."""
        _, html = self.get(page)
        token = _TOKEN.search(html)
        assert token is not None, html
        data = urllib.parse.urlencode({"csrf_token": token.group(1), **fields}).encode()
        with self.opener.open(self.base + action, data=data, timeout=30) as answer:
            return answer.geturl(), answer.read().decode()


def test_a_resent_email_is_delivered_by_the_worker(stack: Stack) -> None:
    stack.env["EMAIL_PROVIDERS"] = "outbox"
    stack.migrate_and_key()
    stack.start_api(workers=2)  # the session must hold whichever worker answers
    stack.start_worker()
    first = stack.send(
        {"from": "a@example.com", "to": "b@example.com", "subject": "Receipt", "text": "paid"}
    )
    assert stack.wait_for([first])[first]["status"] == "sent"

    browser = Browser(stack.api_url)
    url, _ = browser.submit("/console/sign-in", "/console/sign-in", api_key=stack.api_key)
    assert url.endswith("/console/")
    for _ in range(6):  # several requests: both gunicorn workers answer some
        url, page = browser.get(f"/console/emails/{first}")
        assert url.endswith(first) and "attempt via outbox" in page and "accepted" in page

    url, page = browser.submit(f"/console/emails/{first}", f"/console/emails/{first}/resend")
    copy = url.split("/console/emails/")[1].split("?")[0]
    assert copy != first and "Resent" in page
    done = stack.wait_for([copy])[copy]
    assert done["status"] == "sent"
    assert {"resentFrom": first} in [e["detail"] for e in done["events"]]
    messages = [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        for p in Path(stack.env["OUTBOX_DIR"]).glob("*.eml")
    ]
    assert sorted(m["X-Mailroom-Email-Id"] for m in messages) == sorted([first, copy])
    assert all(m.get_content().strip() == "paid" and m["Subject"] == "Receipt" for m in messages)
