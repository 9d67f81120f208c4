"""Retention for real: emails sent through gunicorn and a worker, then purged by beat's task.

Ages are made by moving `created_at` back in the database; everything else (the GoMail upload
in local storage, the worker's send, beat publishing `mailroom.purge`, a worker running it, the
CLI's dry run) is what an operator runs.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from tests.integration.test_gomail_e2e import CURL, curl, recorded
from tests.support.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.rabbitmq]


def wait_until(check: Callable[[], bool], what: str, stack: Stack, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not within {timeout}s\n{stack.dump_logs()}")
        time.sleep(0.3)


@pytest.mark.skipif(CURL is None, reason="needs the curl command")
def test_beat_purges_content_then_records_uploads_orphans_and_idempotency_keys(
    stack: Stack, tmp_path: Path
) -> None:
    stack.env.update(
        {
            "MAILROOM_PURGE_INTERVAL_SECONDS": "1",
            "MAILROOM_PURGE_BATCH_SIZE": "1",  # several batches for a few rows
            "MAILROOM_RETENTION_DAYS": "30",
            "MAILROOM_RECORD_RETENTION_DAYS": "365",
        }
    )
    stack.migrate_and_key()
    stack.start_api()
    stack.start_worker()
    report = tmp_path / "report.pdf"
    report.write_bytes(b"%PDF-1.4\n" + os.urandom(2_000))

    def gomail(subject: str) -> str:
        status, answer = curl(
            stack,
            "-F", "from_address=reports@example.com",
            "-F", "to_addresses=ann@example.com",
            "-F", f"subject={subject}",
            "--form-string", "body=<p>Totals attached.</p>",
            "-F", f"attachment=@{report}",
        )  # fmt: skip
        assert status == 200, answer
        return str(answer["email_id"])

    old, recent = gomail("Old report"), gomail("Recent report")
    status, answer = stack.request(
        "POST",
        "/send",
        {"from": "a@example.com", "to": "bob@example.com", "subject": "Hi", "html": "<p>x</p>"},
        headers={"Idempotency-Key": "receipt-1"},
    )
    assert status == 200, answer
    stack.wait_for([old, recent], done=recorded)
    objects = Path(stack.env["STORAGE_LOCAL_ROOT"]) / "mailroom-uploads" / "gomail"
    old_upload, recent_upload = objects / old / "report.pdf", objects / recent / "report.pdf"
    assert old_upload.exists() and recent_upload.exists()
    # Uploads no email keeps: a request that failed after storing them. One is past the grace.
    stale_orphan, fresh_orphan = (objects / str(uuid.uuid4()) / "x.pdf" for _ in range(2))
    for orphan in (stale_orphan, fresh_orphan):
        orphan.parent.mkdir(parents=True)
        orphan.write_bytes(b"%PDF-1.4")
    two_hours_ago = time.time() - 7200
    os.utime(stale_orphan, (two_hours_ago, two_hours_ago))

    db = stack.env["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")

    def sql(query: str, *params: object) -> list[tuple[object, ...]]:
        with psycopg.connect(db, autocommit=True) as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def age(email_id: str, days: int) -> None:
        sql(
            "UPDATE emails SET created_at = now() - make_interval(days => %s) WHERE id = %s",
            days,
            email_id,
        )

    age(old, 40)
    sql("UPDATE idempotency_keys SET created_at = now() - interval '25 hours'")

    # The dry run counts and changes nothing.
    dry = stack.cli("purge", "--dry-run")
    assert "content to clear: 1\n" in dry and "emails to delete: 0\n" in dry, dry
    assert "idempotency keys to delete: 1\n" in dry and "orphaned uploads to delete: 1\n" in dry
    assert sql("SELECT count(*) FROM emails WHERE content_purged_at IS NOT NULL") == [(0,)]

    stack.start_beat()

    def content_cleared() -> bool:
        return sql("SELECT content_purged_at IS NOT NULL FROM emails WHERE id = %s", old) == [
            (True,)
        ]

    wait_until(content_cleared, "the old email's content cleared", stack)
    wait_until(lambda: not old_upload.exists(), "the old email's upload deleted", stack)
    wait_until(lambda: not stale_orphan.exists(), "the stale orphan deleted", stack)
    wait_until(
        lambda: sql("SELECT count(*) FROM idempotency_keys") == [(0,)],
        "the expired idempotency key deleted",
        stack,
    )
    [(html, variables, manifest)] = sql(
        "SELECT html, variables::text, attachment_manifest::text FROM emails WHERE id = %s", old
    )
    assert (html, variables, manifest) == (None, "{}", None)
    # The skeleton and history stay readable through the API.
    kept = stack.email(old)
    assert kept["status"] == "sent" and kept["subject"] == "Old report" and kept["events"]
    # What is not due stays.
    assert recent_upload.exists() and fresh_orphan.exists()
    assert sql("SELECT html IS NOT NULL FROM emails WHERE id = %s", recent) == [(True,)]

    age(old, 400)
    wait_until(
        lambda: stack.request("GET", f"/emails/{old}")[0] == 404, "the old email deleted", stack
    )
    for table in ("email_events", "send_attempts", "email_recipients"):
        assert sql(f"SELECT count(*) FROM {table} WHERE email_id = %s", old) == [(0,)]
    assert stack.email(recent)["status"] == "sent"
    assert "mailroom.purge" in stack.tail("beat", 200)
