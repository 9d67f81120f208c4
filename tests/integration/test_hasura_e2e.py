"""The Hasura actions for real: gunicorn → RabbitMQ → worker → outbox, asked as Hasura asks."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.rabbitmq]

URL = "/hasura/actions"


def action(stack: Stack, name: str, arguments: dict[str, Any]) -> tuple[int, Any]:
    """POST the body Hasura sends, with the stack's key as its `Authorization` header."""
    return stack.request(
        "POST",
        URL,
        {
            "action": {"name": name},
            "input": arguments,
            "session_variables": {"x-hasura-role": "user"},
            "request_query": f"{{ {name} }}",
        },
    )


def test_send_email_then_poll_email_status_until_sent(stack: Stack) -> None:
    stack.env["EMAIL_PROVIDERS"] = "outbox"
    stack.migrate_and_key()
    stack.start_api()
    stack.start_worker()

    status, sent = action(
        stack,
        "sendEmail",
        {
            "input": {
                "from": "Billing <billing@example.com>",
                "to": ["ann@example.com"],
                "subject": "Invoice 1042",
                "html": "<p>Dear {{ NAME }}, your invoice is ready.</p>",
                "variables": {"NAME": "Ann"},
                "tags": ["invoice"],
            }
        },
    )
    assert status == 200, sent
    assert sent["status"] == "queued"
    assert sent["body"] == "<p>Dear Ann, your invoice is ready.</p>"

    deadline = time.monotonic() + 60
    while True:
        status, email = action(stack, "emailStatus", {"emailId": sent["emailId"]})
        assert status == 200, email
        if email["status"] == "sent" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert email["status"] == "sent", f"{email}\n{stack.dump_logs()}"
    assert email["emailId"] == sent["emailId"]
    assert email["provider"] == "outbox"
    assert [a["outcome"] for a in email["attempts"]] == ["accepted"]
    assert email["tags"] == ["invoice"]
    [eml] = list(Path(stack.env["OUTBOX_DIR"]).glob("*.eml"))
    assert "Invoice 1042" in eml.read_text()

    # An error through the real server keeps Hasura's shape.
    status, refused = action(stack, "sendEmail", {"input": {"to": ["bob@"], "subject": "x"}})
    assert status == 400
    assert refused == {
        "message": "`bob@` is not a valid email address",
        "extensions": {"code": "invalid-request"},
    }
