"""Test-mode keys for real: gunicorn, a prefork worker, RabbitMQ, PostgreSQL, an SMTP server.

SMTP is the only provider configured. A test key's emails go through the whole pipeline
(validation, rendering, attachments, suppression, idempotency, callbacks) and end `sent` by
the sandbox provider `test`, never reaching the SMTP server; a live key's email reaches the
SMTP server and never the sandbox. Lists, metrics and callbacks keep the two apart.
"""

from __future__ import annotations

import email
import email.policy
import json
import time
import urllib.error
import urllib.request
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_delivery_status import Receiver
from tests.integration.test_observability import sample, scrape
from tests.support.smtp_sink import SmtpSink
from tests.support.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.rabbitmq]

BODY: dict[str, Any] = {
    "from": "Shop <shop@example.com>",
    "to": "ann@example.com, gone@example.com",
    "subject": "Order {{ order }}",
    "html": "<p>Order {{ order }} is on its way</p>",
    "variables": {"order": 1042},
    "attachments": ["docs/invoice.pdf"],
}


def recorded(data: dict[str, Any]) -> bool:
    return any(e["type"] == "recorded" for e in data["events"])


def as_key(stack: Stack, key: str, method: str, path: str, body: Any = None, **headers: str) -> Any:
    stack.api_key = key
    return stack.request(method, path, body, headers=headers)


def raw(stack: Stack, key: str, email_id: str) -> tuple[int, bytes]:
    req = urllib.request.Request(
        f"{stack.api_url}/emails/{email_id}/raw", headers={"Authorization": f"Bearer {key}"}
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            assert resp.headers["Content-Type"] == "message/rfc822"
            return resp.status, bytes(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, bytes(err.read())


def test_a_test_key_never_reaches_a_real_provider_and_a_live_key_never_the_sandbox(
    stack: Stack, smtp_sink: SmtpSink
) -> None:
    stack.env.update(
        {
            "EMAIL_PROVIDERS": "smtp",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp_sink.port),
            # The callback receiver listens on 127.0.0.1, refused without this test setting.
            "MAILROOM_CALLBACKS_ALLOW_LOOPBACK": "true",
        }
    )
    invoice = Path(stack.env["STORAGE_LOCAL_ROOT"]) / "docs" / "invoice.pdf"
    invoice.parent.mkdir(parents=True)
    invoice.write_bytes(b"%PDF-1.4 invoice")
    live = stack.migrate_and_key()
    out = stack.cli("keys", "create", "--test", "--name", "ci", "--scopes", "send,read,admin")
    test = out.strip().splitlines()[-1]
    assert test.startswith("mr_test_") and "test-mode key" in out
    assert "\tlive" in stack.cli("keys", "list") and "\ttest" in stack.cli("keys", "list")
    stack.start_api()
    stack.start_worker()
    receiver = Receiver(fail_first=0)
    try:
        status, answer = as_key(
            stack,
            live,
            "POST",
            "/webhooks/endpoints",
            {"url": f"http://127.0.0.1:{receiver.port}/hook", "events": ["sent"]},
        )
        assert status == 201, answer
        assert as_key(stack, live, "POST", "/suppressions", {"address": "gone@example.com"})[0]
        time.sleep(1.5)  # workers read endpoints at most once a second

        # Validation: a test key's bad request is the same 400.
        status, answer = as_key(stack, test, "POST", "/send", {**BODY, "to": "not an address"})
        assert status == 400, answer
        # Idempotency: the same key and body answer the first email again.
        first = as_key(stack, test, "POST", "/send", BODY, **{"Idempotency-Key": "order-1042"})
        again = as_key(stack, test, "POST", "/send", BODY, **{"Idempotency-Key": "order-1042"})
        assert first[0] == again[0] == 200, (first, again)
        test_id = first[1]["data"]["emailId"]
        assert again[1]["data"]["emailId"] == test_id
        status, answer = as_key(stack, test, "POST", "/send", {**BODY, "to": "gone@example.com"})
        assert status == 200 and answer["data"]["status"] == "suppressed"
        suppressed_id = answer["data"]["emailId"]
        status, answer = as_key(
            stack,
            test,
            "POST",
            "/send/batch",
            {
                **{k: v for k, v in BODY.items() if k != "to"},
                "recipients": [{"to": "a@example.com"}, {"to": "b@example.com"}],
            },
        )
        assert status == 200, answer
        batch_ids = answer["data"]["emailIds"]
        status, answer = as_key(stack, live, "POST", "/send", {**BODY, "to": "bob@example.com"})
        assert status == 200, answer
        live_id = answer["data"]["emailId"]

        done = stack.wait_for([test_id, *batch_ids, live_id], done=recorded)
        for eid in (test_id, *batch_ids):
            data = done[eid]
            assert (data["status"], data["provider"], data["mode"]) == ("sent", "test", "test")
            assert [(a["provider"], a["outcome"]) for a in data["attempts"]] == [
                ("test", "accepted")
            ]
        assert (done[live_id]["status"], done[live_id]["provider"]) == ("sent", "smtp")
        assert done[live_id]["mode"] == "live"

        # Only the live email reached the SMTP server.
        [received] = smtp_sink.received
        assert received.message["X-Mailroom-Email-Id"] == live_id
        assert received.rcpt_tos == ["bob@example.com"]

        # The sandbox kept what it was given: rendered, attached, suppressed recipient dropped.
        status, message_bytes = raw(stack, test, test_id)
        assert status == 200
        message = email.message_from_bytes(message_bytes, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        assert message["Subject"] == "Order 1042"
        assert message["To"] == "ann@example.com"
        assert message["X-Mailroom-Email-Id"] == test_id
        [attachment] = list(message.iter_attachments())
        assert attachment.get_content() == b"%PDF-1.4 invoice"
        status, refusal = raw(stack, live, live_id)
        assert status == 404
        assert json.loads(refusal)["error"].endswith(
            "raw messages are kept for test-mode emails only"
        )

        # Lists: each key sees its own mode; the filter shows the other, never both.
        def listed(key: str, query: str = "") -> set[str]:
            status, answer = as_key(stack, key, "GET", f"/emails{query}")
            assert status == 200, answer
            return {item["emailId"] for item in answer["data"]["items"]}

        test_ids = {test_id, suppressed_id, *batch_ids}
        assert listed(test) == test_ids
        assert listed(live) == {live_id}
        assert listed(live, "?mode=test") == test_ids

        # Callbacks say which mode each status change is in.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(receiver.calls) < 4:
            time.sleep(0.2)
        modes = {
            json.loads(body)["emailId"]: json.loads(body)["mode"] for _, _, body in receiver.calls
        }
        assert modes == {**{eid: "test" for eid in (test_id, *batch_ids)}, live_id: "live"}

        # Metrics count the two modes apart.
        text = scrape(stack)
        assert sample(text, "mailroom_emails_total", status="sent", mode="test") == 3
        assert sample(text, "mailroom_emails_total", status="sent", mode="live") == 1
        assert sample(text, "mailroom_emails_total", status="suppressed", mode="test") == 1
    finally:
        receiver.stop()
