"""Delivery status callers can trust: signed provider webhooks, suppression, callbacks, time.

Real processes (gunicorn, a prefork worker, beat, RabbitMQ, PostgreSQL), real providers' local
servers (moto's SES, our SendGrid v3 server), real signatures (an RSA certificate served over
HTTP for SNS, an ECDSA key for SendGrid).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from models.callback_events import new_secret
from tests.integration.conftest import SENDER
from tests.support.moto_server import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, MotoServer, SesFront
from tests.support.net import free_port
from tests.support.sendgrid_server import SendGridServer
from tests.support.signing import (
    TOPIC_ARN,
    CertServer,
    SendGridSigner,
    SnsSigner,
    json_body,
    sendgrid_event,
    ses_bounce,
    ses_complaint,
    ses_delivery,
    sns_notification,
)
from tests.support.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.rabbitmq]


@pytest.fixture
def signers() -> Iterator[tuple[SnsSigner, str, SendGridSigner]]:
    sns = SnsSigner.generate()
    with CertServer() as server:
        cert_url = server.serve("/SimpleNotificationService-test.pem", sns.certificate_pem)
        yield sns, cert_url, SendGridSigner.generate()


@pytest.fixture
def hooked(
    stack: Stack,
    ses: SesFront,
    sendgrid: SendGridServer,
    signers: tuple[SnsSigner, str, SendGridSigner],
) -> Stack:
    stack.env.update(
        {
            "EMAIL_PROVIDERS": "ses",
            "SES_ENDPOINT_URL": ses.url,
            "SES_REGION": REGION,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "SENDGRID_API_KEY": "SG.test-key",
            "SENDGRID_HOST": sendgrid.url,
            "MAILROOM_SNS_TOPIC_ARNS": TOPIC_ARN,
            # Exact host and port: the certificate server's.
            "MAILROOM_SNS_CERT_HOSTS": urlsplit(signers[1]).netloc,
            "MAILROOM_SNS_ALLOW_HTTP": "true",
            "SENDGRID_WEBHOOK_PUBLIC_KEY": signers[2].public_key_b64,
            "MAILROOM_SWEEP_INTERVAL_SECONDS": "1",
            # The callback receiver listens on 127.0.0.1, refused without this test setting.
            "MAILROOM_CALLBACKS_ALLOW_LOOPBACK": "true",
        }
    )
    stack.migrate_and_key()
    stack.start_api()
    stack.start_worker()
    return stack


def send_and_wait(stack: Stack, to: str = "ann@example.com", **extra: Any) -> dict[str, Any]:
    eid = stack.send({"from": SENDER, "to": to, "subject": "Hi", "text": "t", **extra})
    return stack.wait_for([eid])[eid]


def post_sns(stack: Stack, signer: SnsSigner, cert_url: str, inner: dict[str, Any]) -> Any:
    body = json_body(signer.sign(sns_notification(inner), cert_url=cert_url, version="2"))
    return stack.post_raw("/webhooks/ses", body, {"Content-Type": "text/plain; charset=UTF-8"})


def test_signed_ses_notifications_change_status_and_suppress(
    hooked: Stack, signers: tuple[SnsSigner, str, SendGridSigner]
) -> None:
    sns, cert_url, _ = signers
    now = datetime.now(UTC)
    delivered = send_and_wait(hooked, to="ann@example.com")
    bounced = send_and_wait(hooked, to="gone@example.com")
    complained = send_and_wait(hooked, to="angry@example.com")
    assert {delivered["status"], bounced["status"], complained["status"]} == {"sent"}

    for _email, inner in (
        (delivered, ses_delivery(delivered["providerMessageId"], ["ann@example.com"], now)),
        (bounced, ses_bounce(bounced["providerMessageId"], ["gone@example.com"], now)),
        (complained, ses_complaint(complained["providerMessageId"], ["angry@example.com"], now)),
    ):
        status, answer = post_sns(hooked, sns, cert_url, inner)
        assert status == 200 and answer["data"]["recorded"] == 1, answer
    assert hooked.email(delivered["emailId"])["status"] == "delivered"
    assert hooked.email(bounced["emailId"])["status"] == "bounced"
    assert hooked.email(complained["emailId"])["status"] == "complained"

    status, listing = hooked.request("GET", "/suppressions")
    entries = {e["address"]: e for e in listing["data"]["items"]}
    assert set(entries) == {"gone@example.com", "angry@example.com"}
    assert entries["gone@example.com"]["reason"] == "hard_bounce"
    assert entries["gone@example.com"]["source"] == "ses"
    assert entries["angry@example.com"]["reason"] == "complaint"

    # Out of order: a delivery arriving after the bounce is recorded, the bounce stands.
    late = ses_delivery(bounced["providerMessageId"], ["gone@example.com"], now)
    assert post_sns(hooked, sns, cert_url, late)[0] == 200
    after = hooked.email(bounced["emailId"])
    assert after["status"] == "bounced"
    assert [e["type"] for e in after["events"]][-2:] == ["bounced", "delivered"]

    # The same notification twice is recorded once.
    again = ses_delivery(delivered["providerMessageId"], ["ann@example.com"], now)
    message = sns.sign(sns_notification(again, message_id="fixed-id"), cert_url=cert_url)
    for _ in range(2):
        hooked.post_raw("/webhooks/ses", json_body(message), {"Content-Type": "text/plain"})
    events = [e["type"] for e in hooked.email(delivered["emailId"])["events"]]
    assert events.count("delivered") == 2  # the first notification, then this one once


def test_bad_signature_is_403_and_unknown_messages_are_ignored(
    hooked: Stack, signers: tuple[SnsSigner, str, SendGridSigner]
) -> None:
    sns, cert_url, sendgrid_signer = signers
    email = send_and_wait(hooked)
    inner = ses_bounce(email["providerMessageId"], ["ann@example.com"], datetime.now(UTC))
    signed = sns.sign(sns_notification(inner), cert_url=cert_url)
    signed["Message"] = signed["Message"].replace("Permanent", "Transient")  # tampered
    status, answer = hooked.post_raw("/webhooks/ses", json_body(signed))
    assert status == 403 and answer["message"] == "forbidden"
    forged = SnsSigner.generate().sign(sns_notification(inner), cert_url=cert_url)
    assert hooked.post_raw("/webhooks/ses", json_body(forged))[0] == 403
    other_topic = sns.sign(sns_notification(inner, topic_arn=TOPIC_ARN + "-theirs"), cert_url)
    assert hooked.post_raw("/webhooks/ses", json_body(other_topic))[0] == 403
    assert hooked.email(email["emailId"])["status"] == "sent"
    assert hooked.request("GET", "/suppressions")[1]["data"]["items"] == []

    unknown = ses_delivery("no-such-message", ["ann@example.com"], datetime.now(UTC))
    status, answer = post_sns(hooked, sns, cert_url, unknown)
    assert status == 200 and answer["data"] == {
        "recorded": 0,
        "duplicates": 0,
        "unknown": 1,
        "statusChanges": 0,
    }

    body = json_body([sendgrid_event("delivered", "x.y", "ann@example.com", int(time.time()))])
    headers = sendgrid_signer.headers(body)
    assert hooked.post_raw("/webhooks/sendgrid", body + b" ", headers)[0] == 403
    assert hooked.post_raw("/webhooks/sendgrid", body, {})[0] == 403


def test_sendgrid_events_by_sg_message_id(
    hooked: Stack, sendgrid: SendGridServer, signers: tuple[SnsSigner, str, SendGridSigner]
) -> None:
    hooked.env["EMAIL_PROVIDERS"] = "sendgrid"
    hooked.kill("worker")
    hooked.start_worker()
    email = send_and_wait(hooked, to="bob@example.com")
    assert email["provider"] == "sendgrid"
    sg_id = f"{email['providerMessageId']}.filterdrecv-5645d9c87f-2mwq7-1-5E5F1FE8-1.0"
    stamp = int(time.time())
    batch = [
        sendgrid_event("processed", sg_id, "bob@example.com", stamp),
        sendgrid_event("delivered", sg_id, "bob@example.com", stamp, response="250 OK"),
        sendgrid_event("spamreport", sg_id, "bob@example.com", stamp + 60),
    ]
    body = json_body(batch)
    status, answer = hooked.post_raw(
        "/webhooks/sendgrid", body, {**signers[2].headers(body), "Content-Type": "application/json"}
    )
    assert status == 200 and answer["data"]["recorded"] == 3, answer
    final = hooked.email(email["emailId"])
    assert final["status"] == "complained"
    assert {"processed", "delivered", "complained"} <= {e["type"] for e in final["events"]}
    entries = hooked.request("GET", "/suppressions?reason=complaint")[1]["data"]["items"]
    assert [e["address"] for e in entries] == ["bob@example.com"]


def test_events_suppress_only_the_emails_recipients(
    hooked: Stack, signers: tuple[SnsSigner, str, SendGridSigner]
) -> None:
    """A signed event that names an address the email was not sent to suppresses nothing; a
    SendGrid unsubscribe suppresses its recipient for every provider."""
    sns, cert_url, sendgrid_signer = signers
    now = datetime.now(UTC)
    email = send_and_wait(hooked, to="ann@example.com")
    pmid = email["providerMessageId"]
    bounce = ses_bounce(pmid, ["ann@example.com", "Victim@Example.com"], now)
    assert post_sns(hooked, sns, cert_url, bounce)[0] == 200
    complaint = ses_complaint(pmid, ["boss@example.com"], now)
    assert post_sns(hooked, sns, cert_url, complaint)[0] == 200
    listing = hooked.request("GET", "/suppressions")[1]["data"]["items"]
    assert [e["address"] for e in listing] == ["ann@example.com"]

    hooked.env["EMAIL_PROVIDERS"] = "sendgrid"
    hooked.kill("worker")
    hooked.start_worker()
    email = send_and_wait(hooked, to="bob@example.com", cc="carl@example.com")
    sg_id = f"{email['providerMessageId']}.filterdrecv-1"
    stamp = int(time.time())
    batch = [
        sendgrid_event("bounce", sg_id, "stranger@example.com", stamp, type="bounce"),
        sendgrid_event("spamreport", sg_id, "other@example.com", stamp),
        sendgrid_event("unsubscribe", sg_id, "outsider@example.com", stamp),
        sendgrid_event("unsubscribe", sg_id, "bob@example.com", stamp),
        sendgrid_event("group_unsubscribe", sg_id, "carl@example.com", stamp, asm_group_id=4),
    ]
    body = json_body(batch)
    headers = {**sendgrid_signer.headers(body), "Content-Type": "application/json"}
    status, answer = hooked.post_raw("/webhooks/sendgrid", body, headers)
    assert status == 200, answer
    listing = hooked.request("GET", "/suppressions")[1]["data"]["items"]
    entries = {e["address"]: (e["reason"], e["source"]) for e in listing}
    assert entries == {
        "ann@example.com": ("hard_bounce", "ses"),
        "bob@example.com": ("unsubscribe", "sendgrid"),
        "carl@example.com": ("unsubscribe", "sendgrid"),
    }
    # Suppressed for every provider: the next send to bob goes to none of them.
    status, answer = hooked.request(
        "POST", "/send", {"from": SENDER, "to": "bob@example.com", "subject": "Hi", "text": "t"}
    )
    assert status == 200 and answer["data"]["status"] == "suppressed", answer


class Receiver:
    """A caller's HTTP endpoint: records signed callbacks, answers 500 for the first N."""

    def __init__(self, fail_first: int) -> None:
        self.fail_first = fail_first
        self.calls: list[tuple[int, dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    status = 500 if len(receiver.calls) < receiver.fail_first else 200
                    receiver.calls.append((status, dict(self.headers.items()), body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_callbacks_are_signed_and_retried(hooked: Stack) -> None:
    receiver = Receiver(fail_first=1)
    try:
        secret = "s3cret-for-the-test-0123456789"
        status, answer = hooked.request(
            "POST",
            "/webhooks/endpoints",
            {
                "url": f"http://127.0.0.1:{receiver.port}/hook",
                "events": ["sent", "failed"],
                "secret": secret,
            },
        )
        assert status == 201, answer
        endpoint = answer["data"]["endpointId"]
        time.sleep(1.5)  # workers read endpoints at most once a second
        email = send_and_wait(hooked)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(c[0] == 200 for c in receiver.calls):
            time.sleep(0.2)
        assert [c[0] for c in receiver.calls] == [500, 200]  # refused once, then retried
        for _, headers, body in receiver.calls:
            expected = hmac.new(
                secret.encode(),
                headers["X-Mailroom-Timestamp"].encode() + b"." + body,
                hashlib.sha256,
            ).hexdigest()
            assert headers["X-Mailroom-Signature"] == f"v1={expected}"
            # The standard headers too, keyed by the older secret's own bytes.
            assert Webhook(secret.encode()).verify(body, headers)["event"] == "email.sent"
        payload = json.loads(receiver.calls[-1][2])
        assert payload["emailId"] == email["emailId"] and payload["status"] == "sent"
        assert payload["attempt"] == 2 and payload["type"] == "email.status"
        status, deliveries = hooked.request("GET", f"/webhooks/endpoints/{endpoint}/deliveries")
        [delivery] = deliveries["data"]["items"]
        assert (delivery["state"], delivery["attempts"], delivery["lastStatusCode"]) == (
            "delivered",
            2,
            200,
        )
    finally:
        receiver.stop()


def test_callbacks_verify_as_standard_webhooks(hooked: Stack) -> None:
    receiver = Receiver(fail_first=0)
    try:
        status, answer = hooked.request(
            "POST",
            "/webhooks/endpoints",
            {"url": f"http://127.0.0.1:{receiver.port}/hook", "events": ["email.sent"]},
        )
        assert status == 201, answer
        secret = answer["data"]["secret"]
        assert secret.startswith("whsec_") and answer["data"]["events"] == ["sent"]
        time.sleep(1.5)  # workers read endpoints at most once a second
        email = send_and_wait(hooked)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not receiver.calls:
            time.sleep(0.2)
        [(_, headers, body)] = receiver.calls
        payload = Webhook(secret).verify(body, headers)
        assert payload["type"] == "email.sent"
        assert payload["data"] == {
            "emailId": email["emailId"],
            "status": "sent",
            "mode": "live",
            "detail": None,
        }
        assert headers["webhook-id"] == payload["deliveryId"]
        assert "X-Mailroom-Signature" not in headers  # new secrets: the standard only
        with pytest.raises(WebhookVerificationError):
            Webhook(new_secret()).verify(body, headers)
        with pytest.raises(WebhookVerificationError):
            Webhook(secret).verify(body.replace(b"sent", b"sEnt"), headers)
    finally:
        receiver.stop()


def test_endpoint_secrets_in_the_standard_form_must_be_base64(hooked: Stack) -> None:
    status, answer = hooked.request(
        "POST",
        "/webhooks/endpoints",
        {"url": "http://127.0.0.1:9/x", "secret": "whsec_!!!!!!!!!!!"},
    )
    assert status == 400 and "whsec_" in json.dumps(answer), answer
    status, listed = hooked.request("GET", "/webhooks/endpoints")
    assert all(item["url"] != "http://127.0.0.1:9/x" for item in listed["data"]["items"])


def test_scheduled_email_waits_and_a_cancelled_one_never_goes(
    hooked: Stack, moto: MotoServer
) -> None:
    # No beat here: a near-term email leaves on its eta (the sweeper's release of due
    # scheduled emails is tested in tests/tasks).
    send_at = datetime.now(UTC) + timedelta(seconds=4)
    body = {
        "from": SENDER,
        "to": "ann@example.com",
        "subject": "Later",
        "text": "t",
        "sendAt": send_at.isoformat(),
    }
    status, answer = hooked.request("POST", "/send", body)
    assert status == 200 and answer["data"]["status"] == "scheduled"
    assert answer["message"] == "Email queued successfully"  # data.status tells it apart
    kept = answer["data"]["emailId"]
    cancelled = hooked.send(body)
    status, answer = hooked.request("DELETE", f"/emails/{cancelled}")
    assert status == 200 and answer["data"]["status"] == "failed"
    assert hooked.email(kept)["status"] == "scheduled"

    final = hooked.wait_for([kept], timeout=40)[kept]
    assert final["status"] == "sent"
    [sent_event] = [e for e in final["events"] if e["type"] == "sent"]
    assert datetime.fromisoformat(sent_event["at"]) >= send_at
    time.sleep(2)
    gone = hooked.email(cancelled)
    assert gone["status"] == "failed" and gone["attempts"] == []
    assert "cancelled" in [e["type"] for e in gone["events"]]
    status, answer = hooked.request("DELETE", f"/emails/{kept}")
    assert status == 409 and answer["message"] == "conflict"


def test_concurrent_requests_with_one_idempotency_key_make_one_email(
    hooked: Stack, moto: MotoServer
) -> None:
    body = {"from": SENDER, "to": "ann@example.com", "subject": "Once", "text": "t"}
    headers = {"Idempotency-Key": "receipt-7731"}
    results: list[tuple[int, Any]] = []
    barrier = threading.Barrier(8)

    def fire() -> None:
        barrier.wait()
        results.append(hooked.request("POST", "/send", body, headers=headers))

    threads = [threading.Thread(target=fire) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [status for status, _ in results] == [200] * 8, results
    ids = {answer["data"]["emailId"] for _, answer in results}
    assert len(ids) == 1
    [eid] = ids
    hooked.wait_for([eid])
    status, listing = hooked.request("GET", "/emails?limit=200")
    assert [e["emailId"] for e in listing["data"]["items"]] == [eid]
    different = hooked.request("POST", "/send", {**body, "text": "other"}, headers=headers)
    assert different[0] == 409


def test_send_to_a_suppressed_address_never_reaches_a_provider(
    hooked: Stack, ses: SesFront
) -> None:
    status, _ = hooked.request("POST", "/suppressions", {"address": "gone@example.com"})
    assert status == 201
    calls = ses.requests
    status, answer = hooked.request(
        "POST", "/send", {"from": SENDER, "to": "gone@example.com", "subject": "s", "text": "t"}
    )
    assert status == 200 and answer["data"]["status"] == "suppressed"
    time.sleep(1)
    email = hooked.email(answer["data"]["emailId"])
    assert email["status"] == "suppressed" and email["attempts"] == []
    assert ses.requests == calls
