"""A Celery worker serves the metrics of its host's processes when MAILROOM_WORKER_METRICS_PORT
is set: workers have no web server, and each container has its own multiprocess folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.support.net import free_port, wait_for_port

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]


def test_worker_serves_the_folder_s_metrics(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "MAILROOM_ENV_FILE": "/dev/null",
        "MAILROOM_VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'w.sqlite3'}",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "MAILROOM_WORKER_METRICS_PORT": str(port),
        "MAILROOM_QUEUE": f"metrics-{port}",
    }
    # Another process of the host (a pool process, say) has counted an email.
    subprocess.run(
        [
            sys.executable,
            "-c",
            "from mailroom.metrics import EMAILS; EMAILS.labels('sent', 'live').inc(3)",
        ],
        env=env,
        cwd=ROOT,
        check=True,
    )
    worker = subprocess.Popen(
        [str(BIN / "celery"), "-A", "tasks.app", "worker", "--pool", "solo", "--loglevel", "ERROR"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, timeout=60)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
            text = answer.read().decode()
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    assert 'mailroom_emails_total{mode="live",status="sent"} 3.0' in text
