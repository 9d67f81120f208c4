"""The send step picks providers by the email's mode: test emails reach the sandbox and
nothing else, live emails never do.

Emails enter through the API (Flask test client, SQLite); the worker's steps run in this
process against a real SMTP server on loopback, the only provider configured.
"""

from __future__ import annotations

import email
import email.policy
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from models import Email, EmailStatus, SandboxMessage
from providers.registry import ProviderSettings, UnknownProviderError, build_providers
from store.request import SendRequest, request_from_json, request_to_json
from tasks import runtime
from tasks.pipeline import fetch_step, record_step, render_step, send_step
from tests.conftest import Keys
from tests.support.smtp_sink import SmtpSink
from tests.tasks.test_worker_outcomes import Worker

BODY: dict[str, Any] = {
    "from": "Shop <shop@example.com>",
    "to": "ann@example.com",
    "bcc": "audit@example.com",
    "subject": "Order {{ order }}",
    "html": "<p>Order {{ order }} is on its way</p>",
    "variables": {"order": 1042},
    "attachments": ["docs/invoice.pdf"],
}


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def worker(
    app: Flask, monkeypatch: pytest.MonkeyPatch, sink: SmtpSink, storage_root: Path
) -> Iterator[Worker]:
    """The worker side on the app's database, with the SMTP sink as its only provider."""
    (storage_root / "docs").mkdir()
    (storage_root / "docs" / "invoice.pdf").write_bytes(b"%PDF-1.4 invoice")
    worker = Worker(app, monkeypatch)
    worker.configure(EMAIL_PROVIDERS="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=str(sink.port))
    yield worker
    worker.reset()


def deliver(client: FlaskClient, headers: dict[str, str]) -> uuid.UUID:
    """Send through the API, then run the chain's steps as the worker would."""
    response = client.post("/send", json=BODY, headers=headers)
    assert response.status_code == 200, response.get_json()
    eid = uuid.UUID(response.get_json()["data"]["emailId"])
    render_step(eid)
    fetch_step(eid)
    assert send_step(eid) is None
    record_step(eid)
    return eid


def test_test_emails_reach_the_sandbox_and_live_ones_the_provider(
    client: FlaskClient, keys: Keys, worker: Worker, sink: SmtpSink
) -> None:
    test = keys.header("send", "read", test=True)
    live = keys.header("send", "read")

    test_id = deliver(client, test)
    assert sink.received == []  # smtp is the only provider configured, and was not used

    shown = client.get(f"/emails/{test_id}", headers=test).get_json()["data"]
    assert (shown["status"], shown["provider"], shown["mode"]) == ("sent", "test", "test")
    assert [(a["provider"], a["outcome"]) for a in shown["attempts"]] == [("test", "accepted")]
    assert shown["providerMessageId"] == f"{test_id}@example.com"
    response = client.get(f"/emails/{test_id}/raw", headers=test)
    assert response.status_code == 200
    assert response.mimetype == "message/rfc822"
    raw = response.get_data()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert message["Subject"] == "Order 1042"
    assert message["Message-ID"] == f"<{test_id}@example.com>"
    assert message["Bcc"] is None and b"audit@example.com" not in raw
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "invoice.pdf"
    assert attachment.get_content() == b"%PDF-1.4 invoice"

    live_id = deliver(client, live)
    [received] = sink.received
    assert received.message["X-Mailroom-Email-Id"] == str(live_id)
    shown = client.get(f"/emails/{live_id}", headers=live).get_json()["data"]
    assert (shown["status"], shown["provider"], shown["mode"]) == ("sent", "smtp", "live")
    assert client.get(f"/emails/{live_id}/raw", headers=live).status_code == 404


def test_a_send_repeated_after_a_lost_claim_keeps_one_raw_message(
    client: FlaskClient, keys: Keys, worker: Worker, sink: SmtpSink
) -> None:
    test = keys.header("send", "read", test=True)
    eid = deliver(client, test)
    with runtime.transaction() as session:
        # As if the acceptance had not been recorded: the email goes through the sandbox again.
        session.execute(update(Email).where(Email.id == eid).values(status=EmailStatus.RENDERED))
    assert send_step(eid) is None
    with runtime.transaction() as session:
        count = session.scalar(select(func.count()).select_from(SandboxMessage))
    assert count == 1
    assert sink.received == []


def test_the_sandbox_is_no_provider_an_operator_can_configure() -> None:
    with pytest.raises(UnknownProviderError):
        build_providers(["test"], ProviderSettings())


def test_a_list_sends_request_keeps_its_mode_across_the_broker() -> None:
    request = SendRequest(from_addr="a@example.com", to=(), test=True)
    assert request_from_json(request_to_json(request)).test is True
    assert request_from_json(request_to_json(request.but(test=False))).test is False
