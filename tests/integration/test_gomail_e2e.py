"""The GoMail-compatible endpoint for real: curl → gunicorn → storage → RabbitMQ → worker → SMTP."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.smtp_sink import SmtpSink
from tests.support.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.rabbitmq]

CURL = shutil.which("curl")
SEND_EMAIL = "/api/v1/email-service/send-email/"


def curl(stack: Stack, *args: str) -> tuple[int, Any]:
    """`curl -X POST $API/api/v1/email-service/send-email/ -H "Authorization: ..." ARGS`."""
    assert CURL is not None
    done = subprocess.run(
        [
            CURL,
            "--silent",
            "--show-error",
            "-X",
            "POST",
            stack.api_url + SEND_EMAIL,
            "-H",
            f"Authorization: Bearer {stack.api_key}",
            *args,
            "--write-out",
            "\n%{http_code}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    body, _, status = done.stdout.rpartition("\n")
    return int(status), json.loads(body)


def recorded(email: dict[str, Any]) -> bool:
    """The chain's last step has run."""
    return any(e["type"] == "recorded" for e in email["events"])


@pytest.mark.skipif(CURL is None, reason="needs the curl command")
def test_curl_upload_is_sent_with_its_attachment(
    stack: Stack, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    stack.env.update(
        {
            "EMAIL_PROVIDERS": "smtp",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp_sink.port),
            "MAX_ATTACHMENTS_BYTES": "100000",
        }
    )
    stack.migrate_and_key()
    stack.start_api()
    stack.start_worker()
    report = tmp_path / "report.pdf"
    report.write_bytes(b"%PDF-1.4\n" + os.urandom(60_000))

    # As a GoMail user types it. curl reads a -F value that starts with `<` from a file, so an
    # HTML body goes in --form-string (curl's documented way to send such a value as it is).
    status, answer = curl(
        stack,
        "-F",
        "from_address=Reports <reports@example.com>",
        "-F",
        "to_addresses=ann@example.com bob@example.org",
        "-F",
        "cc_addresses=carol@example.net",
        "-F",
        "bcc_addresses=hidden@example.com",
        "-F",
        "subject=Monthly report",
        "--form-string",
        "body=<p>Totals are <b>attached</b>.</p>",
        "-F",
        f"attachment=@{report}",
    )

    assert status == 200, answer
    email_id = answer["email_id"]
    assert answer == {"success": True, "message": "Email queued successfully", "email_id": email_id}
    key = f"mailroom-uploads/gomail/{email_id}/report.pdf"
    assert (Path(stack.env["STORAGE_LOCAL_ROOT"]) / key).read_bytes() == report.read_bytes()

    final = stack.wait_for([email_id], done=recorded)[email_id]
    assert final["status"] == "sent", final
    assert final["to"] == "ann@example.com, bob@example.org"
    [received] = smtp_sink.received
    assert received.mail_from == "reports@example.com"
    assert sorted(received.rcpt_tos) == [
        "ann@example.com",
        "bob@example.org",
        "carol@example.net",
        "hidden@example.com",
    ]
    msg = received.message
    assert msg["Subject"] == "Monthly report"
    assert msg["From"] == "Reports <reports@example.com>"
    assert msg["To"] == "ann@example.com, bob@example.org"
    assert msg["Cc"] == "carol@example.net"
    assert msg["Bcc"] is None
    assert msg["X-Mailroom-Email-Id"] == email_id
    html = msg.get_body(("html",))
    text = msg.get_body(("plain",))
    assert html is not None and "<p>Totals are <b>attached</b>.</p>" in html.get_content()
    assert text is not None and text.get_content().strip() == "Totals are attached."
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_filename() == "report.pdf"
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content() == report.read_bytes()

    # Over MAX_ATTACHMENTS_BYTES: refused in GoMail's shape through the real server.
    big = tmp_path / "big.pdf"
    big.write_bytes(b"%PDF-1.4\n" + os.urandom(120_000))
    status, answer = curl(
        stack,
        "-F",
        "from_address=reports@example.com",
        "-F",
        "to_addresses=ann@example.com",
        "-F",
        "subject=Too big",
        "--form-string",
        "body=<p>x</p>",
        "-F",
        f"attachment=@{big}",
    )
    assert status == 413, answer
    assert answer == {
        "success": False,
        "message": "attachments total 120009 bytes, over the limit of 100000 bytes",
        "email_id": None,
    }
    uploads = Path(stack.env["STORAGE_LOCAL_ROOT"]) / "mailroom-uploads" / "gomail"
    assert [folder.name for folder in uploads.iterdir()] == [email_id]  # nothing of the refused


@pytest.mark.skipif(CURL is None, reason="needs the curl command")
def test_curl_body_over_the_request_limit_is_413(stack: Stack, tmp_path: Path) -> None:
    stack.env.update({"EMAIL_PROVIDERS": "outbox", "MAILROOM_MAX_REQUEST_BYTES": "200000"})
    stack.migrate_and_key()
    stack.start_api()
    big = tmp_path / "big.pdf"
    big.write_bytes(b"%PDF-1.4\n" + os.urandom(300_000))
    status, answer = curl(
        stack,
        "-F",
        "from_address=reports@example.com",
        "-F",
        "to_addresses=ann@example.com",
        "-F",
        "subject=Too big",
        "--form-string",
        "body=<p>x</p>",
        "-F",
        f"attachment=@{big}",
    )
    assert status == 413, answer
    assert answer == {
        "success": False,
        "message": "the request body is larger than 200000 bytes",
        "email_id": None,
    }
    assert not (Path(stack.env["STORAGE_LOCAL_ROOT"]) / "mailroom-uploads").exists()
