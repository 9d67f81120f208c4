"""`mailroom purge` as operators run it, and the retention settings it reads."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from mailroom.migrate import upgrade
from models import Email, EmailEvent, EmailStatus, utcnow
from models.db import make_engine, make_session_factory

MAILROOM = str(Path(sys.executable).parent / "mailroom")


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MAILROOM, *args],
        env={**os.environ, "MAILROOM_ENV_FILE": "/dev/null", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    upgrade(url)
    return {
        "DATABASE_URL": url,
        "MAILROOM_VAR_DIR": str(tmp_path / "var"),
        "STORAGE_LOCAL_ROOT": str(tmp_path / "objects"),
    }


def add_emails(env: dict[str, str], *ages_in_days: int) -> list[uuid.UUID]:
    """Sent emails of these ages, each with an event, a GoMail upload and a caller's object."""
    root = Path(env["STORAGE_LOCAL_ROOT"])
    factory = make_session_factory(make_engine(env["DATABASE_URL"]))
    ids = []
    with factory() as session:
        for days in ages_in_days:
            eid = uuid.uuid4()
            keys = [f"mailroom-uploads/gomail/{eid}/a.pdf", f"customer/{eid}.pdf"]
            for key in keys:
                (root / key).parent.mkdir(parents=True, exist_ok=True)
                (root / key).write_bytes(b"%PDF-1.4")
            session.add(
                Email(
                    id=eid,
                    status=EmailStatus.SENT,
                    from_addr="a@example.com",
                    to_addrs=["b@example.com"],
                    cc_addrs=[],
                    bcc_addrs=[],
                    subject="s",
                    html="<p>secret</p>",
                    variables={"code": "1"},
                    attachment_keys=keys,
                    headers={},
                    message_id=f"<{eid}@example.com>",
                    created_at=utcnow() - timedelta(days=days),
                    events=[EmailEvent(type="sent")],
                )
            )
            ids.append(eid)
        session.commit()
    return ids


def test_purge_clears_and_deletes_what_is_due_and_never_a_callers_object(
    env: dict[str, str],
) -> None:
    gone, cleared, kept = add_emails(env, 400, 40, 5)
    root = Path(env["STORAGE_LOCAL_ROOT"])

    dry = run(env, "purge", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "content to clear: 1\nemails to delete: 1\n" in dry.stdout

    done = run(env, "purge")

    assert done.returncode == 0, done.stderr
    assert "content cleared: 1\nemails deleted: 1\n" in done.stdout
    assert "uploads deleted: 2\n" in done.stdout
    factory = make_session_factory(make_engine(env["DATABASE_URL"]))
    with factory() as session:
        assert session.get(Email, gone) is None
        email = session.get(Email, cleared)
        assert email is not None and email.html is None and email.variables == {}
        kept_email = session.get(Email, kept)
        assert kept_email is not None and kept_email.html == "<p>secret</p>"
    uploads = root / "mailroom-uploads" / "gomail"
    assert sorted(p.name for p in uploads.iterdir()) == [str(kept)]
    # The caller's own objects are theirs: never deleted.
    assert sorted(p.name for p in (root / "customer").iterdir()) == sorted(
        f"{eid}.pdf" for eid in (gone, cleared, kept)
    )
    assert "content to clear: 0\nemails to delete: 0\n" in run(env, "purge", "--dry-run").stdout


def test_a_run_stops_at_its_time_limit_and_the_next_one_goes_on(env: dict[str, str]) -> None:
    add_emails(env, *[400] * 6)
    slow = {**env, "MAILROOM_PURGE_BATCH_SIZE": "1", "MAILROOM_PURGE_MAX_SECONDS": "0.000001"}

    cut = run(slow, "purge")

    assert cut.returncode == 0, cut.stderr
    assert "run it again for the rest" in cut.stderr
    assert "emails deleted: " in run(env, "purge").stdout
    assert "emails to delete: 0\n" in run(env, "purge", "--dry-run").stdout


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (
            {"MAILROOM_RETENTION_DAYS": "30", "MAILROOM_RECORD_RETENTION_DAYS": "10"},
            "MAILROOM_RECORD_RETENTION_DAYS=10 is not valid: expected 0 or at least "
            "MAILROOM_RETENTION_DAYS (30)",
        ),
        ({"MAILROOM_RETENTION_DAYS": "-1"}, "MAILROOM_RETENTION_DAYS=-1 is not valid"),
        ({"MAILROOM_PURGE_BATCH_SIZE": "0"}, "MAILROOM_PURGE_BATCH_SIZE=0 is not valid"),
    ],
)
def test_bad_retention_settings_stop_the_command(
    env: dict[str, str], setting: dict[str, str], message: str
) -> None:
    done = run({**env, **setting}, "purge")

    assert done.returncode == 1
    assert message in done.stderr
