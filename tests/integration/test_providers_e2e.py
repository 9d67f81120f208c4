"""Real providers end to end: SES (moto) with GCS attachments, SendGrid, and smart failover.

Every process is real (gunicorn, a prefork worker, RabbitMQ, PostgreSQL) and every provider
is a local server speaking its protocol: moto's SES behind a front that can throttle or
vanish, our SendGrid v3 server, and gcp-storage-emulator for the attachments.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pytest
from standardwebhooks.webhooks import Webhook

from tests.integration.conftest import PDF, SENDER
from tests.integration.test_delivery_status import Receiver
from tests.integration.test_observability import sample, scrape
from tests.support.gcs_emulator import GcsEmulator
from tests.support.moto_server import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, MotoServer, SesFront
from tests.support.sendgrid_server import SendGridServer
from tests.support.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.rabbitmq]


@pytest.fixture
def providers(stack: Stack, ses: SesFront, sendgrid: SendGridServer, gcs: GcsEmulator) -> Stack:
    stack.env.update(
        {
            "EMAIL_PROVIDERS": "ses,sendgrid",
            "SES_ENDPOINT_URL": ses.url,
            "SES_REGION": REGION,
            "SES_READ_TIMEOUT": "2",
            "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "SENDGRID_API_KEY": "SG.test-key",
            "SENDGRID_HOST": sendgrid.url,
            "SENDGRID_TIMEOUT": "2",
            "STORAGE_BACKEND": "gcs",
            "MAILROOM_ALLOWED_BUCKETS": "invoices",
            "MAILROOM_UPLOADS_BUCKET": "mailroom-test-uploads",
            "STORAGE_EMULATOR_HOST": gcs.url,
            "GCS_PROJECT": "test",
            # Longer than any test: a cooldown ends only when the test ends it (`end_cooldown`).
            "MAILROOM_PROVIDER_COOLDOWN_SECONDS": "600",
            "MAILROOM_CIRCUIT_FAILURES": "3",
        }
    )
    return stack


def start(stack: Stack) -> None:
    stack.migrate_and_key()
    stack.start_api()
    stack.start_worker()


def send_and_wait(stack: Stack, **extra: Any) -> dict[str, Any]:
    body = {
        "from": f"Billing <{SENDER}>",
        "to": "ann@example.com",
        "subject": "Invoice",
        "html": "<p>Your invoice</p>",
        **extra,
    }
    eid = stack.send(body)
    return stack.wait_for([eid], timeout=60)[eid]


def end_cooldown(stack: Stack, provider: str) -> None:
    """Move the provider's cooldown into the past in the database, as time passing would."""
    url = stack.env["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        changed = conn.execute(
            "UPDATE provider_states SET opened_until = now() - interval '1 second' "
            "WHERE name = %s AND opened_until > now()",
            (provider,),
        ).rowcount
    assert changed == 1, f"{provider} was not cooling down"
    time.sleep(1.5)  # past the worker's one-second cache of provider states (a lower bound)


def attempts(email: dict[str, Any]) -> list[tuple[str, str]]:
    return [(a["provider"], a["outcome"]) for a in email["attempts"]]


def test_ses_delivers_with_gcs_attachments(providers: Stack, moto: MotoServer) -> None:
    start(providers)
    before = len(moto.sent())
    email = send_and_wait(
        providers,
        cc="carol@example.com",
        bcc=["audit@example.com"],
        replyTo="help@example.com",
        attachments=["invoices/2026/inv-1042.pdf"],
    )
    assert email["status"] == "sent" and email["provider"] == "ses"
    assert attempts(email) == [("ses", "accepted")]
    [sent] = moto.sent()[before:]
    assert sent.message_id == email["providerMessageId"]
    assert {"ann@example.com", "carol@example.com", "audit@example.com"} <= set(sent.destinations)
    msg = sent.message
    assert msg["Bcc"] is None and msg["Reply-To"] == "help@example.com"
    assert msg["X-Mailroom-Email-Id"] == email["emailId"]
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_filename() == "inv-1042.pdf"
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content() == PDF


@pytest.mark.parametrize("outage", ["throttle", "down"])
def test_ses_outage_fails_over_to_sendgrid(
    providers: Stack, ses: SesFront, sendgrid: SendGridServer, outage: str
) -> None:
    if outage == "throttle":
        ses.set_mode("throttle")
    else:
        ses.stop()  # connection refused
    start(providers)
    email = send_and_wait(providers, attachments=["invoices/2026/inv-1042.pdf"])
    assert email["status"] == "sent" and email["provider"] == "sendgrid"
    assert attempts(email) == [("ses", "failed"), ("sendgrid", "accepted")]
    reason = email["attempts"][0]["error"]
    assert reason.startswith("TransientError")
    [accepted] = sendgrid.received
    assert email["providerMessageId"] == accepted.message_id
    assert accepted.payload["attachments"][0]["filename"] == "inv-1042.pdf"


def test_sendgrid_401_is_skipped_until_the_cooldown(
    providers: Stack, sendgrid: SendGridServer, moto: MotoServer
) -> None:
    providers.env["EMAIL_PROVIDERS"] = "sendgrid,ses"
    sendgrid.set_mode("unauthorized")
    start(providers)
    first = send_and_wait(providers)
    assert attempts(first) == [("sendgrid", "failed"), ("ses", "accepted")]
    assert first["attempts"][0]["error"].startswith("ConfigurationError")
    requests_so_far = sendgrid.requests
    second = send_and_wait(providers)
    assert attempts(second) == [("ses", "accepted")]  # sendgrid set aside: not even tried
    assert sendgrid.requests == requests_so_far
    sendgrid.set_mode("accept")
    end_cooldown(providers, "sendgrid")  # then sendgrid is probed again
    third = send_and_wait(providers)
    assert attempts(third) == [("sendgrid", "accepted")]


def test_permanent_rejection_fails_without_failover(
    providers: Stack, sendgrid: SendGridServer, ses: SesFront
) -> None:
    providers.env["EMAIL_PROVIDERS"] = "sendgrid,ses"
    sendgrid.set_mode("reject")
    start(providers)
    email = send_and_wait(providers)
    assert email["status"] == "failed"
    assert attempts(email) == [("sendgrid", "failed")]
    assert email["attempts"][0]["error"].startswith("RejectedError (400)")
    assert ses.requests == 0  # the next provider was not hammered
    failed = [e for e in email["events"] if e["type"] == "failed"]
    assert "Does not contain a valid address" in failed[0]["detail"]


def test_circuit_opens_after_failures_and_closes_after_a_probe(
    providers: Stack, ses: SesFront
) -> None:
    ses.set_mode("throttle")
    start(providers)
    for _ in range(3):
        assert attempts(send_and_wait(providers)) == [("ses", "failed"), ("sendgrid", "accepted")]
    calls = ses.requests
    assert attempts(send_and_wait(providers)) == [("sendgrid", "accepted")]  # circuit open
    assert ses.requests == calls
    assert sample(scrape(providers), "mailroom_provider_circuit_state", provider="ses") == 1
    assert (
        sample(scrape(providers), "mailroom_failovers_total", **{"from": "ses", "to": "sendgrid"})
        == 3
    )

    ses.set_mode("forward")
    end_cooldown(providers, "ses")  # the next email probes SES
    assert attempts(send_and_wait(providers)) == [("ses", "accepted")]
    assert attempts(send_and_wait(providers)) == [("ses", "accepted")]
    assert sample(scrape(providers), "mailroom_provider_circuit_state", provider="ses") == 0


def test_attachment_checks_at_the_api_against_gcs(providers: Stack, gcs: GcsEmulator) -> None:
    providers.env["MAX_ATTACHMENTS_BYTES"] = "1000"
    start(providers)
    body = {"from": SENDER, "to": "ann@example.com", "subject": "s", "text": "t"}
    status, answer = providers.request(
        "POST", "/send", {**body, "attachments": ["invoices/2026/missing.pdf"]}
    )
    assert (status, answer["error"]) == (400, "attachment `invoices/2026/missing.pdf` not found")
    status, answer = providers.request(
        "POST", "/send", {**body, "attachments": ["invoices/2026/inv-1042.pdf"]}
    )
    assert status == 413 and answer["message"] == "payload too large"
    assert answer["error"] == f"attachments total {len(PDF)} bytes, over the limit of 1000 bytes"


def test_a_fallback_provider_taking_an_email_is_called_back_as_failed_over(
    providers: Stack, ses: SesFront
) -> None:
    providers.env["MAILROOM_CALLBACKS_ALLOW_LOOPBACK"] = "true"  # the receiver is on loopback
    ses.set_mode("throttle")
    start(providers)
    receiver = Receiver(fail_first=0)
    try:
        url = f"http://127.0.0.1:{receiver.port}/hook"
        status, answer = providers.request(
            "POST", "/webhooks/endpoints", {"url": url, "events": ["email.failed_over"]}
        )
        assert status == 201, answer
        time.sleep(1.5)  # workers read endpoints at most once a second
        email = send_and_wait(providers)
        assert attempts(email) == [("ses", "failed"), ("sendgrid", "accepted")]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not receiver.calls:
            time.sleep(0.2)
        [(_, headers, body)] = receiver.calls
        payload = Webhook(answer["data"]["secret"]).verify(body, headers)
        assert payload["type"] == "email.failed_over"
        assert payload["data"]["emailId"] == email["emailId"]
        assert payload["data"]["detail"] == "sent by sendgrid after ses failed"
    finally:
        receiver.stop()
