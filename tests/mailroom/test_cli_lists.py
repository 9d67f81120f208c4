"""`mailroom lists import`: a CSV into a list from the command line, with progress."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from mailroom.migrate import upgrade
from models import ImportState, ListImport, RecipientList
from models.db import make_engine, make_session_factory
from tasks.lists import iter_members

MAILROOM = str(Path(sys.executable).parent / "mailroom")


def test_lists_import(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    upgrade(url)
    sessions = make_session_factory(make_engine(url))
    with sessions() as session:
        recipients = RecipientList(name="cli", member_count=0)
        session.add(recipients)
        session.commit()
        list_id = recipients.id
    csv = tmp_path / "members.csv"
    rows = [f"u{i}@example.com,U{i}" for i in range(2300)] + ["nope,x"]
    csv.write_text("email,name\n" + "\n".join(rows) + "\n", encoding="utf-8")
    env = {**os.environ, "MAILROOM_ENV_FILE": "/dev/null", "DATABASE_URL": url}

    done = subprocess.run(
        [MAILROOM, "lists", "import", str(csv), "--list", str(list_id)],
        env={**env, "MAILROOM_VAR_DIR": str(tmp_path / "var")},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    summary, import_id = done.stdout.splitlines()
    assert summary == (
        "2301 rows: 2300 new, 0 updated, 0 duplicates, 0 suppressed, 1 skipped; "
        "the list has 2300 members"
    )
    assert "importing members.csv" in done.stderr
    assert "line 2302: `nope` is not a valid email address" in done.stderr
    with sessions() as session:
        job = session.scalars(select(ListImport)).one()
        assert (str(job.id), job.state, job.data) == (import_id, ImportState.DONE, None)
        assert job.bytes_done == job.total_bytes == csv.stat().st_size
        names = {m.email: m.name for b in iter_members(session, list_id) for m in b}
        assert len(names) == 2300 and names["u7@example.com"] == "U7"

    unknown = subprocess.run(
        [MAILROOM, "lists", "import", str(csv), "--list", "00000000-0000-0000-0000-000000000000"],
        env={**env, "MAILROOM_VAR_DIR": str(tmp_path / "var")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert unknown.returncode == 2
    assert "no list 00000000-0000-0000-0000-000000000000" in unknown.stderr
