"""Per-email provider choice (`"providers"` on a send) through the HTTP API and a real worker,
with an SMTP sink and our SendGrid v3 server as the providers."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.conftest import SENDER
from tests.support.sendgrid_server import SendGridServer
from tests.support.smtp_sink import SmtpSink
from tests.support.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.rabbitmq]

BODY = {"from": SENDER, "to": "ann@example.com", "subject": "Hi", "text": "t"}


@pytest.fixture
def both(stack: Stack, smtp_sink: SmtpSink, sendgrid: SendGridServer) -> Stack:
    stack.env.update(
        {
            "EMAIL_PROVIDERS": "smtp,sendgrid",  # smtp first: the configured order
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp_sink.port),
            "SENDGRID_API_KEY": "SG.test-key",
            "SENDGRID_HOST": sendgrid.url,
            "SENDGRID_TIMEOUT": "2",
            "MAILROOM_RATE_LIMIT": "",
        }
    )
    stack.migrate_and_key()
    stack.start_api()
    stack.start_worker()
    return stack


def attempts(email: dict[str, Any]) -> list[tuple[str, str]]:
    return [(a["provider"], a["outcome"]) for a in email["attempts"]]


def test_an_email_that_chooses_sendgrid_goes_to_sendgrid(
    both: Stack, smtp_sink: SmtpSink, sendgrid: SendGridServer
) -> None:
    plain = both.send(BODY)
    chosen = both.send({**BODY, "providers": ["sendgrid"]})
    status, answer = both.request(
        "POST",
        "/send/batch",
        {
            "from": SENDER,
            "subject": "s",
            "text": "t",
            "providers": ["sendgrid"],
            "recipients": [{"to": "bo@example.com"}],
        },
    )
    assert status == 200, answer
    [batched] = answer["data"]["emailIds"]
    done = both.wait_for([plain, chosen, batched])
    assert attempts(done[plain]) == [("smtp", "accepted")]  # the configured order
    assert attempts(done[chosen]) == [("sendgrid", "accepted")]
    assert attempts(done[batched]) == [("sendgrid", "accepted")]
    assert len(smtp_sink.received) == 1 and sendgrid.requests == 2

    # A test-mode key's email goes to the sandbox whatever providers it chose.
    out = both.cli("keys", "create", "--test", "--name", "ci", "--scopes", "send,read")
    both.api_key = out.strip().splitlines()[-1]
    sandboxed = both.send({**BODY, "providers": ["sendgrid"]})
    assert attempts(both.wait_for([sandboxed])[sandboxed]) == [("test", "accepted")]
    assert len(smtp_sink.received) == 1 and sendgrid.requests == 2


def test_failover_stays_within_the_chosen_providers(
    both: Stack, smtp_sink: SmtpSink, sendgrid: SendGridServer
) -> None:
    sendgrid.set_mode("unavailable")
    eid = both.send({**BODY, "providers": ["sendgrid"]})
    email = both.wait_for([eid])[eid]
    assert email["status"] == "failed"
    assert {a for a in attempts(email)} == {("sendgrid", "failed")}
    assert smtp_sink.received == []  # never the configured provider it did not choose


def test_unknown_or_no_providers_are_a_400_and_store_nothing(both: Stack) -> None:
    status, answer = both.request("POST", "/send", {**BODY, "providers": ["sendgrid", "ses"]})
    assert (status, answer["error"]) == (
        400,
        "`providers`: `ses` not configured (configured: smtp, sendgrid)",
    ), answer
    status, answer = both.request(
        "POST",
        "/send/batch",
        {
            "from": SENDER,
            "subject": "s",
            "text": "t",
            "providers": ["postmark"],
            "recipients": [{"to": "bo@example.com"}],
        },
    )
    assert status == 400 and "`postmark` not configured" in answer["error"], answer
    status, answer = both.request("POST", "/send", {**BODY, "providers": []})
    assert status == 400 and "providers" in str(answer), answer
    status, listed = both.request("GET", "/emails")
    assert status == 200 and listed["data"]["items"] == [], listed
