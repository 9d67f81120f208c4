"""Flower's password is never on a command line (where `ps` shows it to every user): every
way we start Flower leaves it in FLOWER_BASIC_AUTH, which Flower reads itself."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.support.net import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
LAUNCHERS = ("scripts/run.sh", "Procfile", "Makefile", "docker-compose.yml")


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_no_launcher_puts_the_password_in_arguments(launcher: str) -> None:
    text = (ROOT / launcher).read_text()
    assert "basic-auth" not in text and "basic_auth" not in text.replace("BASIC_AUTH", "")


def _status(url: str, auth: str | None) -> int:
    headers = {"Authorization": "Basic " + base64.b64encode(auth.encode()).decode()} if auth else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as err:
        return err.code


def test_flower_reads_its_password_from_the_environment(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "MAILROOM_ENV_FILE": "/dev/null",
        "MAILROOM_VAR_DIR": str(tmp_path / "var"),
        "BROKER_URL": "filesystem://",
        "FLOWER_BASIC_AUTH": "admin:not-in-argv-7",
    }
    args = [str(Path(sys.executable).parent / "celery"), "-A", "tasks.app", "flower"]
    proc = subprocess.Popen(
        [*args, "--address=127.0.0.1", f"--port={port}"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, timeout=60)
        deadline = time.monotonic() + 30
        health = f"http://127.0.0.1:{port}/healthcheck"  # open, for load balancers
        while _status(health, None) != 200 and time.monotonic() < deadline:
            time.sleep(0.5)
        url = f"http://127.0.0.1:{port}/tasks"
        assert _status(url, "admin:not-in-argv-7") == 200
        assert _status(url, None) == 401
        assert _status(url, "admin:wrong") == 401
        assert b"not-in-argv-7" not in Path(f"/proc/{proc.pid}/cmdline").read_bytes()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
