"""Signatures for real: gunicorn → PostgreSQL → RabbitMQ → worker renders → SMTP delivers."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.smtp_sink import Received, SmtpSink
from tests.support.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.rabbitmq]

SIGNATURE = {"html": "<p class='sig'>Jane Doe · Billing</p>", "text": "Jane Doe · Billing"}


def recorded(email: dict[str, Any]) -> bool:
    """The chain's last step has run."""
    return any(e["type"] == "recorded" for e in email["events"])


def parts(received: Received) -> tuple[str, str]:
    html = received.message.get_body(("html",))
    text = received.message.get_body(("plain",))
    assert html is not None and text is not None
    # On the wire lines end in CRLF; the "-- " line keeps its space (quoted-printable "--=20").
    return str(html.get_content()), str(text.get_content()).replace("\r\n", "\n")


def test_delivered_messages_carry_the_signature_unless_turned_off(
    stack: Stack, smtp_sink: SmtpSink
) -> None:
    stack.send_through_smtp(smtp_sink.port)
    stack.migrate_and_key()
    stack.start_api()
    stack.start_worker()
    status, answer = stack.request("PUT", "/senders/billing@example.com/signature", SIGNATURE)
    assert status == 200, answer

    body = {
        "from": "Billing <billing@example.com>",
        "to": "ann@example.com",
        "subject": "Invoice 1042",
        "html": "<html><body><p>Your invoice is attached.</p></body></html>",
    }
    signed = stack.send(body)
    unsigned = stack.send({**body, "signature": False})
    final = stack.wait_for([signed, unsigned], done=recorded)
    assert final[signed]["status"] == final[unsigned]["status"] == "sent", final

    [with_sig] = smtp_sink.by_header("X-Mailroom-Email-Id", signed)
    html, text = parts(with_sig)
    assert "Your invoice is attached." in html
    assert html.index("Jane Doe · Billing") < html.index("</body>")
    assert html.index("Your invoice is attached.") < html.index("Jane Doe · Billing")
    message, separator, signature = text.partition("\n-- \n")
    assert separator and "Your invoice is attached." in message
    assert signature.strip() == "Jane Doe · Billing"

    [without] = smtp_sink.by_header("X-Mailroom-Email-Id", unsigned)
    html, text = parts(without)
    assert "Your invoice is attached." in html and "Your invoice is attached." in text
    assert "Jane Doe" not in html and "Jane Doe" not in text and "\n-- \n" not in text
