"""Failures an operator can fix end in one line saying what to do; `--debug` shows the rest."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mailroom.migrate import upgrade

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]


def run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {
        **os.environ,
        "MAILROOM_ENV_FILE": "/dev/null",
        "MAILROOM_VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    return subprocess.run(
        [*args], env={**base, **env}, cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_database_down(tmp_path: Path) -> None:
    down = "postgresql+psycopg://mailroom:s3cret@127.0.0.1:1/mailroom"
    line = one_line(run(tmp_path, str(BIN / "mailroom"), "keys", "list", DATABASE_URL=down))
    assert line.startswith(
        "mailroom: cannot reach the database at postgresql+psycopg://mailroom:***@127.0.0.1:1/"
    )
    assert line.endswith("Check that it is running and that DATABASE_URL is right.")
    assert "s3cret" not in line

    debug = run(tmp_path, str(BIN / "mailroom"), "--debug", "keys", "list", DATABASE_URL=down)
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_migrations_not_applied(tmp_path: Path) -> None:
    line = one_line(run(tmp_path, str(BIN / "mailroom"), "keys", "list"))
    assert line == "mailroom: the database has no Mailroom tables: run `mailroom db upgrade` first."


def test_migrations_pending(tmp_path: Path) -> None:
    upgrade(f"sqlite:///{tmp_path / 'cli.sqlite3'}", "0008")
    line = one_line(run(tmp_path, str(BIN / "mailroom"), "keys", "list"))
    assert line.startswith("mailroom: the database schema is at 0008, this Mailroom needs ")
    assert line.endswith(": run `mailroom db upgrade`.")
    assert run(tmp_path, str(BIN / "mailroom"), "db", "upgrade").returncode == 0
    assert run(tmp_path, str(BIN / "mailroom"), "keys", "list").returncode == 0


BAD_SETTING = (
    "mailroom: bad setting: SMTP_STARTTLS=ture is not valid: expected true or false "
    "(also 1/0, yes/no, on/off). Fix the environment or .env (see .env.example)."
)


@pytest.mark.parametrize(
    "command",
    [
        ["mailroom", "keys", "list"],
        ["mailroom", "config", "check"],
        ["gunicorn", "-c", "python:mailroom.gunicorn_conf", "mailroom.wsgi:app"],
        ["celery", "-A", "tasks.app", "worker", "--pool", "solo"],
        ["celery", "-A", "tasks.app", "beat"],
    ],
)
def test_a_bad_setting_stops_every_entry_point_in_one_line(
    tmp_path: Path, command: list[str]
) -> None:
    done = run(tmp_path, str(BIN / command[0]), *command[1:], SMTP_STARTTLS="ture")
    assert one_line(done) == BAD_SETTING


def test_config_check_and_example(tmp_path: Path) -> None:
    done = run(tmp_path, str(BIN / "mailroom"), "config", "check")
    assert done.returncode == 0 and done.stdout == "settings ok (providers: outbox)\n"
    example = run(tmp_path, str(BIN / "mailroom"), "config", "example")
    assert example.stdout == (ROOT / ".env.example").read_text(encoding="utf-8")


def test_an_unreachable_broker_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from kombu.exceptions import OperationalError

    from mailroom.cli_errors import explain
    from mailroom.config import get_settings

    monkeypatch.setenv("BROKER_URL", "amqp://mailroom:s3cret@rabbitmq.internal:5672/mailroom")
    monkeypatch.setenv("MAILROOM_VAR_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        message = explain(OperationalError("[Errno 111] Connection refused"))
    finally:
        get_settings.cache_clear()
    assert message == (
        "cannot reach the broker at amqp://mailroom:***@rabbitmq.internal:5672/mailroom "
        "([Errno 111] Connection refused). Check that it is running and that BROKER_URL is right."
    )
    assert explain(KeyError("a bug")) is None  # a bug keeps its traceback
