"""The console in a real browser: Debian's chromium driven by Playwright's Python package.

`make test` installs chromium (scripts/ensure-services.sh); these tests skip, saying why, only
where it is not installed. Each page's screenshot is saved under var/console-screenshots/.
"""

from __future__ import annotations

import json
import shutil
import threading
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from models import utcnow
from tests.conftest import Keys
from tests.support.net import free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "console-screenshots"
playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason="Debian's chromium is not installed (scripts/ensure-services.sh installs it as root)",
)


class Server:
    """The app served over HTTP on a free port, in a thread, with an all-scopes key."""

    def __init__(self, app: Flask, keys: Keys) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.key = keys.header("admin")["Authorization"].removeprefix("Bearer ")
        self._server = make_server("127.0.0.1", self.port, app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """POST JSON to the API with the key; the answer's `data`."""
        request = urllib.request.Request(
            f"{self.url}{path}",
            data=json.dumps(payload).encode(),
            headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            data: dict[str, Any] = json.load(answer)["data"]
            return data

    def send(self, **body: Any) -> str:
        """POST /send with the key; the new email's id."""
        payload = {"from": "ops@example.com", "to": "alice@example.com", "subject": "Hello"}
        payload.update(body)
        return str(self.post("/send", payload)["emailId"])

    def status_of(self, email_id: str) -> str:
        """The email's status through GET /emails/<id>."""
        request = urllib.request.Request(
            f"{self.url}/emails/{email_id}", headers={"Authorization": f"Bearer {self.key}"}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            return str(json.load(answer)["data"]["status"])


@pytest.fixture
def server(app: Flask, keys: Keys) -> Iterator[Server]:
    served = Server(app, keys)
    served._thread.start()
    yield served
    served._server.shutdown()


@pytest.fixture
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


def shot(page: Any, name: str) -> None:
    """Save the page's screenshot as a test artifact."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in_by_keyboard(page: Any, server: Server) -> None:
    """Sign in with the keyboard alone: the key field has the focus, Enter submits."""
    page.goto(f"{server.url}/console/emails")
    assert "/console/sign-in" in page.url
    shot(page, "sign-in")
    page.keyboard.type(server.key)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server.url}/console/emails")


def test_an_operator_follows_an_email(server: Server, browser: Any) -> None:
    requests: list[str] = []
    page = browser.new_page()
    page.on("request", lambda r: requests.append(r.url))
    sign_in_by_keyboard(page, server)
    email_id = server.send(
        to="Bob <bob@example.com>",
        subject="Your receipt",
        html='<p id="body">Thanks!</p><script>document.getElementById("body").textContent='
        '"SCRIPT RAN"; new Image().src="/console/pwned";</script>',
        text="Thanks!",
        tags=["receipt"],
    )
    page.fill("input[name=to]", "bob@example.com")
    page.press("input[name=to]", "Enter")
    page.wait_for_load_state()
    row = page.locator("tbody tr", has_text="Your receipt")
    assert row.count() == 1
    shot(page, "emails")
    row.locator("a").first.click()
    page.wait_for_url(f"**/console/emails/{email_id}")
    assert page.locator("table.timeline").inner_text().count("accepted") >= 1
    frame_element = page.locator("iframe.preview")
    assert frame_element.get_attribute("sandbox") == ""
    frame = page.frame_locator("iframe.preview")
    assert frame.locator("#body").inner_text() == "Thanks!"
    shot(page, "email")
    # Opened on its own, the preview still runs no script (its CSP sandboxes it).
    page.goto(f"{server.url}/console/emails/{email_id}/preview")
    assert page.locator("#body").inner_text() == "Thanks!"
    assert not [url for url in requests if "pwned" in url]


def test_cancel_suppress_and_csrf(server: Server, browser: Any) -> None:
    page = browser.new_page()
    sign_in_by_keyboard(page, server)
    later = (utcnow() + timedelta(days=1)).isoformat()
    scheduled = server.send(to="carol@example.com", text="Later", sendAt=later)
    page.goto(f"{server.url}/console/emails/{scheduled}")
    page.get_by_role("button", name="Cancel this scheduled email").click()
    page.wait_for_load_state()
    assert "Email cancelled" in page.locator("main").inner_text()
    assert server.status_of(scheduled) == "failed"

    sent = server.send(to="dave@example.com", text="Hi")
    page.goto(f"{server.url}/console/emails/{sent}")
    page.select_option("#suppress-address", "dave@example.com")
    page.get_by_role("button", name="Suppress this recipient").click()
    page.wait_for_load_state()
    assert "dave@example.com suppressed" in page.locator("main").inner_text()
    assert server.status_of(server.send(to="dave@example.com", text="Again")) == "suppressed"

    # A form stripped of its CSRF token is refused, and the email stays where it was.
    other = server.send(to="erin@example.com", text="Later", sendAt=later)
    page.goto(f"{server.url}/console/emails/{other}")
    page.evaluate("document.querySelectorAll('input[name=csrf_token]').forEach(e => e.remove())")
    page.get_by_role("button", name="Cancel this scheduled email").click()
    page.wait_for_load_state()
    assert "CSRF token is missing or invalid" in page.locator("main").inner_text()
    assert server.status_of(other) == "scheduled"


def test_every_page_reads_without_javascript(server: Server, browser: Any) -> None:
    email_id = server.send(html="<p>Hello</p>", text="Hello")
    template_id = server.post(
        "/templates",
        {
            "name": "welcome",
            "subject": "Welcome {{ NAME }}",
            "html": "<h1>Hello {{ NAME }}</h1>",
            "variables": [{"name": "NAME", "type": "text", "required": True}],
        },
    )["templateId"]
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{server.url}/console/sign-in")
    page.fill("#api_key", server.key)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    pages = {
        "overview": "/console/",
        "emails-no-js": "/console/emails",
        "email-no-js": f"/console/emails/{email_id}",
        "suppressions": "/console/suppressions",
        "templates": "/console/templates",
        "template": f"/console/templates/{template_id}?var.NAME=Ada",
        "webhooks": "/console/webhooks",
    }
    for name, path in pages.items():
        answer = page.goto(server.url + path)
        assert answer is not None and answer.status == 200, path
        assert page.locator("main h1").count() == 1, path
        shot(page, name)
    # The skip link comes first in the tab order.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    context.close()
