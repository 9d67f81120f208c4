"""gunicorn's settings module: the child_exit hook must not import anything when it runs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'api.sqlite3'}",
        "MAILROOM_VAR_DIR": str(tmp_path / "var"),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "LOG_LEVEL": "WARNING",
    }


def test_the_hook_needs_no_import_when_it_runs(tmp_path: Path) -> None:
    # gunicorn runs child_exit from its SIGCHLD handler: an import there can be re-entered by
    # the next worker's death and fail on a partially initialized module.
    code = (
        "import sys, types\n"
        "import mailroom.gunicorn_conf as conf\n"
        "assert 'mailroom.metrics' in sys.modules\n"
        "before = set(sys.modules)\n"
        "conf.child_exit(None, types.SimpleNamespace(pid=2**22 + 1))\n"
        "assert set(sys.modules) == before, set(sys.modules) - before\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _wait(check: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_workers_killed_together_are_replaced_without_errors(tmp_path: Path) -> None:
    env = _env(tmp_path)
    subprocess.run([str(BIN / "mailroom"), "db", "upgrade"], cwd=ROOT, env=env, check=True)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as out:
        master = subprocess.Popen(
            [
                str(BIN / "gunicorn"), "-c", "python:mailroom.gunicorn_conf",
                "--bind", f"127.0.0.1:{port}", "--workers", "2", "mailroom.wsgi:app",
            ],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        _wait(lambda: len(_children(master.pid)) == 2)
        for _ in range(5):
            dead = _children(master.pid)
            for pid in dead:
                os.kill(pid, signal.SIGKILL)
            _wait(lambda: len(set(_children(master.pid)) - set(dead)) == 2)  # noqa: B023
        assert master.poll() is None
    finally:
        master.terminate()
        master.wait(30)
    text = log.read_text()
    assert "Traceback" not in text and "ImportError" not in text, text
