"""The whole pipeline for real: gunicorn API → RabbitMQ → Celery chain → provider → status."""

from __future__ import annotations

import email
import email.policy
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.net import free_port
from tests.support.smtp_sink import SmtpSink
from tests.support.stack import Stack
from tests.support.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.rabbitmq]

BODY = {
    "from": "Mailroom Tests <noreply@example.com>",
    "to": "ann@example.com, bob@example.org",
    "cc": ["Carol <carol@example.net>"],
    "bcc": "hidden@example.com",
    "replyTo": "support@example.com",
    "subject": "Order {{ order }} shipped",
    "html": "<h1>Hello {{ name }}</h1><p>Your order {{ order }} is on its way.</p>",
    "variables": {"name": "Ann <script>", "order": 1042},
    "headers": {"X-Campaign": "autumn"},
    "tags": ["orders", "shipping"],
    "attachments": ["docs/invoice-1042.pdf"],
}


def recorded(email: dict[str, Any]) -> bool:
    """The chain's last step has run."""
    return any(e["type"] == "recorded" for e in email["events"])


def _store(stack: Stack, key: str, data: bytes) -> None:
    path = Path(stack.env["STORAGE_LOCAL_ROOT"]) / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_send_through_smtp_end_to_end(stack: Stack, smtp_sink: SmtpSink) -> None:
    stack.send_through_smtp(smtp_sink.port)
    _store(stack, "docs/invoice-1042.pdf", b"%PDF-1.4 fake invoice")
    stack.migrate_and_key()
    stack.start_api()
    stack.start_worker()

    status, answer = stack.request("POST", "/send", BODY)
    assert status == 200, answer
    assert answer["status"] == "success"
    assert answer["message"] == "Email queued successfully"
    data = answer["data"]
    assert data["status"] == "queued"
    assert data["to"] == "ann@example.com, bob@example.org"
    assert data["bcc"] == "hidden@example.com"
    assert data["attachments"] == ["docs/invoice-1042.pdf"]
    assert "Hello Ann &lt;script&gt;" in data["body"]

    final = stack.wait_for([data["emailId"]], done=recorded)[data["emailId"]]
    assert final["status"] == "sent", final
    assert final["provider"] == "smtp"
    assert final["tags"] == ["orders", "shipping"]
    assert [a["outcome"] for a in final["attempts"]] == ["accepted"]
    types = [e["type"] for e in final["events"]]
    for step in ("accepted", "rendered", "attachments_ready", "sending", "sent", "recorded"):
        assert step in types, types

    [received] = smtp_sink.received
    assert received.mail_from == "noreply@example.com"
    assert sorted(received.rcpt_tos) == sorted(
        ["ann@example.com", "bob@example.org", "carol@example.net", "hidden@example.com"]
    )
    msg = received.message
    assert msg["Bcc"] is None
    assert "hidden@example.com" not in received.data.decode()
    assert msg["Subject"] == "Order 1042 shipped"
    assert msg["Reply-To"] == "support@example.com"
    assert msg["X-Campaign"] == "autumn"
    assert msg["X-Mailroom-Email-Id"] == data["emailId"]
    assert msg["Message-ID"] == f"<{data['emailId']}@example.com>"
    assert msg["Date"]
    html = msg.get_body(("html",))
    text = msg.get_body(("plain",))
    assert html is not None and "Hello Ann &lt;script&gt;" in html.get_content()
    assert text is not None and "Hello Ann <script>" in text.get_content()
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_filename() == "invoice-1042.pdf"
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content() == b"%PDF-1.4 fake invoice"


def test_send_to_outbox_on_rabbitmq_and_postgres(stack: Stack) -> None:
    stack.env["EMAIL_PROVIDERS"] = "outbox"
    stack.migrate_and_key()
    stack.start_api()
    stack.start_worker()
    eid = stack.send(
        {"from": "a@example.com", "to": "b@example.com", "subject": "Hi", "text": "plain only"}
    )
    assert stack.wait_for([eid])[eid]["status"] == "sent"
    [eml] = list(Path(stack.env["OUTBOX_DIR"]).glob("*.eml"))
    msg = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert msg["To"] == "b@example.com"
    assert msg["X-Mailroom-Email-Id"] == eid
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content().strip() == "plain only"


@pytest.mark.parametrize("failure", ["tempfail-rcpt", "shutdown", "refused"])
def test_fails_over_to_the_next_provider(stack: Stack, smtp_sink: SmtpSink, failure: str) -> None:
    port = smtp_sink.port
    if failure == "refused":
        port = free_port()  # nothing listens there
    else:
        smtp_sink.mode = failure
    stack.env.update(
        {"EMAIL_PROVIDERS": "smtp,outbox", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port)}
    )
    stack.migrate_and_key()
    stack.start_api()
    stack.start_worker()
    eid = stack.send(
        {"from": "a@example.com", "to": "b@example.com", "subject": "Hi", "html": "<p>failover</p>"}
    )
    final = stack.wait_for([eid])[eid]
    assert final["status"] == "sent"
    assert final["provider"] == "outbox"
    attempts = [(a["provider"], a["outcome"]) for a in final["attempts"]]
    assert attempts == [("smtp", "failed"), ("outbox", "accepted")]
    assert final["attempts"][0]["error"]
    assert smtp_sink.received == []
    assert len(list(Path(stack.env["OUTBOX_DIR"]).glob("*.eml"))) == 1


def test_every_provider_failing_ends_failed_with_reasons(
    stack: Stack, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    smtp_sink.mode = "tempfail-rcpt"
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the outbox folder should be")
    stack.env.update(
        {
            "EMAIL_PROVIDERS": "smtp,outbox",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp_sink.port),
            "OUTBOX_DIR": str(blocker / "outbox"),
        }
    )
    stack.migrate_and_key()
    stack.start_api()
    stack.start_worker()
    eid = stack.send(
        {
            "from": "a@example.com",
            "to": "b@example.com",
            "subject": "Hi",
            "text": "nobody takes this",
        }
    )
    final = stack.wait_for([eid], timeout=90)[eid]
    assert final["status"] == "failed"
    # Three tries (the first and MAILROOM_SEND_MAX_RETRIES=2 more). The outbox's unwritable
    # folder is a configuration error: it marks the outbox unhealthy, so the retries within
    # its cool-down skip it instead of hammering it.
    assert [a["provider"] for a in final["attempts"]] == ["smtp", "outbox", "smtp", "smtp"]
    assert all(a["outcome"] == "failed" and a["error"] for a in final["attempts"])
    assert "451" in final["attempts"][0]["error"]
    assert final["attempts"][1]["error"].startswith("ConfigurationError")
    failed = [e for e in final["events"] if e["type"] == "failed"]
    assert len(failed) == 1 and "gave up after 3 tries" in failed[0]["detail"]
    assert [e["type"] for e in final["events"]].count("retry") == 2


def test_broker_unreachable_is_still_200_and_the_sweeper_sends_later(stack: Stack) -> None:
    """A committed row is an accepted email: with the broker cut, every sending endpoint answers
    200 (a 503 would make a retrying client send it twice) and the sweeper sends it later."""
    proxy = TcpProxy(5672).start()
    stack.env.update({"EMAIL_PROVIDERS": "outbox", "MAILROOM_SWEEP_INTERVAL_SECONDS": "1"})
    stack.migrate_and_key()
    # Only the API reaches RabbitMQ through the proxy: cutting it fails the API's publish.
    stack.start_api(
        env={
            "BROKER_URL": f"amqp://guest:guest@127.0.0.1:{proxy.port}//",
            "MAILROOM_PUBLISH_TIMEOUT_SECONDS": "1",
        }
    )
    stack.start_worker()
    body = {"from": "a@example.com", "to": "b@example.com", "subject": "Hi", "text": "later"}
    first = stack.send(body)
    assert stack.wait_for([first])[first]["status"] == "sent"

    proxy.stop()
    # An API hung on the broker would be cut by gunicorn's 30 s worker timeout: the client would
    # get no answer at all.
    stranded = []
    status, answer = stack.request("POST", "/send", body)
    assert status == 200 and answer["message"] == "Email queued successfully", answer
    assert answer["data"]["status"] == "queued"
    stranded.append(answer["data"]["emailId"])
    message = {k: v for k, v in body.items() if k != "to"}
    batch = {**message, "recipients": [{"to": "c@example.com"}, {"to": "d@example.com"}]}
    status, answer = stack.request("POST", "/send/batch", batch)
    assert status == 200 and answer["data"]["status"] == "queued", answer
    stranded += answer["data"]["emailIds"]
    gomail = {"from_address": "a@example.com", "to_addresses": "e@example.com"}
    status, answer = stack.request(
        "POST", "/api/v1/email-service/send-email/", {**gomail, "subject": "Hi", "body": "<p>x"}
    )
    assert status == 200 and answer["success"] is True, answer
    stranded.append(answer["email_id"])
    hasura = {"action": {"name": "sendEmail"}, "input": body, "session_variables": {}}
    status, answer = stack.request("POST", "/hasura/actions", hasura)
    assert status == 200 and answer["status"] == "queued", answer
    stranded.append(answer["emailId"])
    assert len(set(stranded)) == 5
    assert {stack.email(eid)["status"] for eid in stranded} == {"queued"}

    proxy.start()
    stack.start_beat()
    final = stack.wait_for(stranded, timeout=60)
    for eid in stranded:
        assert final[eid]["status"] == "sent", final[eid]
        assert "requeued" in [e["type"] for e in final[eid]["events"]]
    # The API's own connection recovers too.
    again = stack.send(body)
    assert stack.wait_for([again])[again]["status"] == "sent"
    proxy.stop()


def test_duplicate_publishes_send_each_email_once(stack: Stack, smtp_sink: SmtpSink) -> None:
    stack.send_through_smtp(smtp_sink.port)
    stack.migrate_and_key()
    stack.start_api()
    stack.start_worker(concurrency=4)
    body = {"from": "a@example.com", "to": "b@example.com", "subject": "Once", "text": "x"}
    ids = [stack.send(body) for _ in range(20)]
    # Two more copies of every chain, as a broker redelivery or a sweeper race would publish.
    stack.python(f"from tasks.publish import enqueue; enqueue({ids!r} * 2)")
    stack.wait_for(ids, done=recorded)
    time.sleep(1)  # let any straggling duplicate reach the sink before counting
    per_email = {eid: len(smtp_sink.by_header("X-Mailroom-Email-Id", eid)) for eid in ids}
    assert per_email == dict.fromkeys(ids, 1)
    for eid in ids:
        final = stack.email(eid)
        assert [a["outcome"] for a in final["attempts"]] == ["accepted"]
        assert [e["type"] for e in final["events"]].count("recorded") == 1


def test_list_filters_and_pages(stack: Stack) -> None:
    stack.env["EMAIL_PROVIDERS"] = "outbox"
    stack.migrate_and_key()
    stack.start_api()
    stack.start_worker()
    base = {"from": "a@example.com", "subject": "Hi", "text": "x"}
    ids = [
        stack.send({**base, "to": f"user{i}@example.com", "tags": ["batch-a"]}) for i in range(3)
    ]
    other = stack.send({**base, "to": "user0@example.com", "tags": ["batch-b"]})
    stack.wait_for([*ids, other])

    status, page = stack.request("GET", "/emails?tag=batch-a&limit=2")
    assert status == 200
    first = [e["emailId"] for e in page["data"]["items"]]
    assert first == [ids[2], ids[1]]
    cursor = page["data"]["nextCursor"]
    status, page = stack.request("GET", f"/emails?tag=batch-a&limit=2&cursor={cursor}")
    assert [e["emailId"] for e in page["data"]["items"]] == [ids[0]]
    assert page["data"]["nextCursor"] is None

    status, page = stack.request("GET", "/emails?to=USER0@example.com")
    assert {e["emailId"] for e in page["data"]["items"]} == {ids[0], other}
    status, page = stack.request("GET", "/emails?status=sent&limit=200")
    assert len(page["data"]["items"]) == 4
    status, page = stack.request("GET", "/emails?status=bogus")
    assert status == 400
    status, page = stack.request("GET", "/emails/00000000-0000-0000-0000-000000000000")
    assert status == 404 and page["message"] == "not found"


def test_embedded_default_sqlite_filesystem_broker_outbox(tmp_path: Path) -> None:
    stack = Stack(tmp_path, {})
    for name in (
        "DATABASE_URL",
        "BROKER_URL",
        "EMAIL_PROVIDERS",
        "OUTBOX_DIR",
        "STORAGE_LOCAL_ROOT",
    ):
        stack.env.pop(name, None)
    try:
        stack.migrate_and_key()
        stack.start_api()
        stack.start_worker()
        eid = stack.send(
            {
                "from": "a@example.com",
                "to": "b@example.com",
                "subject": "Hi",
                "html": "<p>embedded</p>",
            }
        )
        final = stack.wait_for([eid])[eid]
        assert final["status"] == "sent" and final["provider"] == "outbox"
        var = tmp_path / "var"
        assert (var / "mailroom.sqlite3").exists()
        assert any((var / "broker").rglob("*")), "the filesystem broker was not used"
        [eml] = list((var / "outbox").glob("*.eml"))
        assert b"embedded" in eml.read_bytes()
    finally:
        stack.stop()
