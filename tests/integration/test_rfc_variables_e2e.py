"""The RFC's four example requests delivered: API → RabbitMQ → worker → SMTP, HTML checked.

Each goes through `/send`, Hasura's `sendEmail`, a `/send/batch` recipient and a list send,
to templates whose VAR_1 is declared `text`, `draft` or without a type: the value's format
decides how it renders, so each delivers the same HTML whatever was declared.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.support.rfc_requests import EXAMPLES, templates
from tests.support.smtp_sink import SmtpSink
from tests.support.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.rabbitmq]

DECLARED = ("text", "draft", "untyped")
CHANNELS = ("send", "hasura", "batch", "list")


def create(stack: Stack, path: str, body: dict[str, Any]) -> str:
    status, answer = stack.request("POST", path, body)
    assert status == 201, answer
    data = answer["data"]
    return str(data.get("templateId") or data.get("listId"))


def submit(stack: Stack, channel: str, request: dict[str, Any], to: str) -> None:
    """Send ``request`` to ``to`` through ``channel``; it must be accepted."""
    request = {**request, "to": to}
    if channel == "send":
        status, answer = stack.request("POST", "/send", request)
    elif channel == "hasura":
        action = {
            "action": {"name": "sendEmail"},
            "input": {"input": request},
            "session_variables": {"x-hasura-role": "user"},
        }
        status, answer = stack.request("POST", "/hasura/actions", action)
    elif channel == "batch":
        message = {k: v for k, v in request.items() if k not in ("to", "variables")}
        recipient = {"to": to, "variables": request["variables"]}
        status, answer = stack.request(
            "POST", "/send/batch", {**message, "recipients": [recipient]}
        )
    else:
        list_id = create(stack, "/lists", {"name": to})
        members = {"members": [{"email": to}]}
        status, answer = stack.request("POST", f"/lists/{list_id}/members", members)
        assert status == 200, answer
        message = {k: v for k, v in request.items() if k != "to"}
        status, answer = stack.request("POST", "/send/batch", {**message, "listId": list_id})
    assert status == 200, (channel, to, answer)


def test_rfc_examples_deliver_the_html_of_their_values_format(
    stack: Stack, smtp_sink: SmtpSink
) -> None:
    stack.env.update(
        {
            "EMAIL_PROVIDERS": "smtp",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp_sink.port),
            "MAILROOM_RATE_LIMIT": "",
        }
    )
    stack.migrate_and_key()
    stack.start_api()
    stack.start_worker(concurrency=2)

    expected: dict[str, str] = {}  # recipient -> the HTML body its message must hold
    for declared in DECLARED:
        ids = {
            role: create(stack, "/templates", body) for role, body in templates(declared).items()
        }
        for name, (build, _, html) in EXAMPLES.items():
            for channel in CHANNELS:
                to = f"{channel}.{declared}.{name.lower()}@example.com"
                submit(stack, channel, build(ids), to)
                expected[to] = html

    deadline = time.monotonic() + 120
    while len(smtp_sink.received) < len(expected) and time.monotonic() < deadline:
        time.sleep(0.25)
    delivered: dict[str, str] = {}
    for received in smtp_sink.received:
        [rcpt] = received.rcpt_tos
        part = received.message.get_body(("html",))
        assert part is not None, rcpt
        assert rcpt not in delivered, f"{rcpt} delivered twice"
        delivered[rcpt] = str(part.get_content())
    assert sorted(delivered) == sorted(expected), stack.dump_logs()
    wrong = {to: delivered[to] for to, html in expected.items() if html not in delivered[to]}
    assert not wrong, wrong
