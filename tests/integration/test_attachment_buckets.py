"""Attachments on GCS (the emulator) with a real API and worker: only allowed buckets are read,
and an object rewritten after it was checked fails its email instead of being sent."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.conftest import PDF
from tests.support.gcs_emulator import GcsEmulator
from tests.support.smtp_sink import SmtpSink
from tests.support.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.rabbitmq]

BODY = {"from": "billing@example.com", "to": "ann@example.com", "subject": "s", "text": "t"}


@pytest.fixture
def on_gcs(stack: Stack, gcs: GcsEmulator, smtp_sink: SmtpSink) -> Stack:
    """A stack reading attachments from the emulator's `invoices` bucket only."""
    gcs.create_bucket("private")
    gcs.put("private/payroll.pdf", PDF, "application/pdf")
    stack.env.update(
        {
            "EMAIL_PROVIDERS": "smtp",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp_sink.port),
            "STORAGE_BACKEND": "gcs",
            "STORAGE_EMULATOR_HOST": gcs.url,
            "GCS_PROJECT": "test",
            "MAILROOM_ALLOWED_BUCKETS": "invoices",
            "MAILROOM_UPLOADS_BUCKET": "mailroom-test-uploads",
            "MAX_ATTACHMENTS_BYTES": "10000",
        }
    )
    stack.migrate_and_key()
    stack.start_api()
    return stack


def failure(email: dict[str, Any]) -> str:
    [failed] = [e["detail"] for e in email["events"] if e["type"] == "failed"]
    return str(failed)


def test_a_bucket_not_allowed_is_a_400_and_stores_nothing(on_gcs: Stack) -> None:
    status, answer = on_gcs.request(
        "POST", "/send", {**BODY, "attachments": ["private/payroll.pdf"]}
    )

    assert status == 400, answer
    assert answer["status"] == "error"
    assert answer["error"] == (
        "attachment `private/payroll.pdf`: bucket `private` is not an allowed bucket"
    )
    status, listed = on_gcs.request("GET", "/emails")
    assert status == 200 and listed["data"]["items"] == [], listed


def test_objects_rewritten_after_their_check_fail_their_email(
    on_gcs: Stack, gcs: GcsEmulator, smtp_sink: SmtpSink
) -> None:
    gcs.put("invoices/grows.pdf", PDF, "application/pdf")
    gcs.put("invoices/turns.pdf", PDF, "application/pdf")
    grows = on_gcs.send({**BODY, "attachments": ["invoices/grows.pdf"]})
    turns = on_gcs.send({**BODY, "attachments": ["invoices/turns.pdf"]})
    # After the API's check, before the worker describes it: over the limit.
    gcs.put("invoices/grows.pdf", PDF * 20, "application/pdf")

    # Only the CPU lane: emails are described, none is sent yet.
    on_gcs.start_worker("cpu", lanes=("",))
    ready = on_gcs.wait_for(
        [turns], done=lambda e: any(ev["type"] == "attachments_ready" for ev in e["events"])
    )
    assert ready[turns]["status"] == "rendered"
    # After the worker described it, before the send: an executable of the same size.
    gcs.put("invoices/turns.pdf", b"MZ" + bytes(len(PDF) - 2), "application/pdf")
    on_gcs.start_worker("sender", lanes=(".send",))

    final = on_gcs.wait_for([grows, turns])
    assert final[grows]["status"] == "failed"
    assert f"attachments total {len(PDF) * 20} bytes, over the limit" in failure(final[grows])
    assert final[turns]["status"] == "failed"
    assert failure(final[turns]) == (
        "attachment `invoices/turns.pdf` changed after it was checked "
        "(application/pdf then, application/x-msdownload now)"
    )
    assert smtp_sink.received == []

    # The service goes on: an unchanged attachment is sent.
    gcs.put("invoices/fine.pdf", PDF, "application/pdf")
    fine = on_gcs.send({**BODY, "attachments": ["invoices/fine.pdf"]})
    assert on_gcs.wait_for([fine])[fine]["status"] == "sent"
    assert len(smtp_sink.received) == 1
