"""`POST /send`'s answer tells what will happen: `data.body` is the HTML the SMTP sink receives
(brand, signature, inlined CSS)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.smtp_sink import Received, SmtpSink
from tests.support.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.rabbitmq]

BRAND = {
    "name": "Acme",
    "header": "<div class='top'>{{ brandName }} — Zürich</div>",
    "footer": "<div class='bottom'>© Acme · unsubscribe</div>",
    "css": ".top { font-weight: bold } .bottom { color: #777 }",
}
SIGNATURE = {"html": "<p class='sig'>Jane · Billing</p>", "text": "Jane · Billing"}


def recorded(email: dict[str, Any]) -> bool:
    """The chain's last step has run."""
    return any(e["type"] == "recorded" for e in email["events"])


def delivered_html(received: Received) -> bytes:
    """The HTML part's bytes as sent, transfer encoding undone; MIME's canonical CRLF line
    ends (RFC 2045) read back as the LF the answer holds."""
    part = received.message.get_body(("html",))
    assert part is not None
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes) and part.get_content_charset() == "utf-8"
    return payload.replace(b"\r\n", b"\n")


def test_the_answers_body_is_the_delivered_html_byte_for_byte(
    stack: Stack, smtp_sink: SmtpSink
) -> None:
    stack.send_through_smtp(smtp_sink.port)
    stack.migrate_and_key()
    stack.start_api()
    stack.start_worker()
    status, brand = stack.request("POST", "/brands", BRAND)
    assert status == 201, brand
    status, template = stack.request(
        "POST",
        "/templates",
        {
            "name": "receipt",
            "subject": "Receipt {{ N }}",
            "html": "<p>Thanks, {{ NAME }}.</p>\n<p class='total'>Total: 12 €</p>",
            "variables": [{"name": "N", "type": "text"}, {"name": "NAME", "type": "text"}],
            "brandId": brand["data"]["brandId"],
        },
    )
    assert status == 201, template
    status, answer = stack.request("PUT", "/senders/billing@example.com/signature", SIGNATURE)
    assert status == 200, answer

    style = "p { margin: 0 } .total { color: red }"
    sends = {
        "template, brand and style": {
            "templateId": template["data"]["templateId"],
            "variables": {"NAME": "Ann <b>", "N": 7},
            "brandStyles": True,
            "customStyle": style,
        },
        "inline content and style": {
            "subject": "Hi",
            "html": "<html><head><style>h1 { color: blue }</style></head>"
            "<body><h1>Hello</h1></body></html>",
            "customStyle": style,
        },
    }
    bodies = {}
    for name, fields in sends.items():
        body = {"from": "Billing <billing@example.com>", "to": "ann@example.com", **fields}
        status, answer = stack.request("POST", "/send", body)
        assert status == 200, (name, answer)
        bodies[answer["data"]["emailId"]] = (name, answer["data"]["body"])

    final = stack.wait_for(list(bodies), done=recorded)
    for email_id, (name, body) in bodies.items():
        assert final[email_id]["status"] == "sent", final[email_id]
        [received] = smtp_sink.by_header("X-Mailroom-Email-Id", email_id)
        # A MIME text part is a sequence of lines, so its last line ends with a line break too.
        as_lines = body if body.endswith("\n") else body + "\n"
        assert delivered_html(received) == as_lines.encode(), name

    # What the answer shows is the finished message, not the bare body it used to be.
    [(_, branded)] = [v for v in bodies.values() if v[0] == "template, brand and style"]
    assert "Acme — Zürich" in branded and "© Acme · unsubscribe" in branded
    assert "Jane · Billing" in branded and "Thanks, Ann &lt;b&gt;." in branded
    assert "color: red" in branded and 'style="font-weight: bold' in branded
    [(_, inline)] = [v for v in bodies.values() if v[0] == "inline content and style"]
    assert 'style="color: blue' in inline and "<style>" not in inline
