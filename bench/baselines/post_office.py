"""Baseline: django-post_office in its bulk mode, PostgreSQL to an SMTP sink.

post_office and Django live in a virtualenv of their own (``var/bench/postoffice-venv``), never
in Mailroom's; ``post_office_runner.py`` runs there, and this module drives it from Mailroom's.

Try it: ``python -m bench.baselines.post_office --count 2000 --smtp-port P`` with ``bench.sink``
listening on P.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REQUIREMENTS = ("Django==5.2.19", "django-post_office==3.12.0", "psycopg[binary]==3.3.9")
RUNNER = Path(__file__).with_name("post_office_runner.py")
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/mailroom_bench_postoffice"
# Its fastest setting measured on the 2-core bench machine: 4 processes beat 1 and 2 (sending is
# GIL-bound per process and waits on the sink's replies); 5 threads (its default) beat 2 and 10;
# batches of 5000 beat its default 100, which pays a fork and a SELECT per 100 emails.
PROCESSES, THREADS, BATCH_SIZE = 4, 5, 5000


def _works(python: Path) -> bool:
    """Whether ``python`` runs and imports everything the runner needs."""
    code = "import django, psycopg, importlib.util as u; assert u.find_spec('post_office')"
    check = [str(python), "-I", "-c", code]
    return python.exists() and subprocess.run(check, capture_output=True).returncode == 0


def ensure_venv(root: Path) -> Path:
    """Create (once) the post_office virtualenv under ``root``; return its python."""
    venv = root.absolute() / "postoffice-venv"
    python = venv / "bin" / "python"
    stamp = venv / ".installed-stamp"
    wanted = "\n".join(REQUIREMENTS) + "\n"
    if stamp.is_file() and stamp.read_text() == wanted and _works(python):
        return python
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, *REQUIREMENTS], check=True)
    stamp.write_text(wanted)
    return python


def run(
    python: Path,
    *,
    count: int,
    smtp_port: int,
    pg_url: str,
    processes: int = PROCESSES,
    threads: int = THREADS,
    batch_size: int = BATCH_SIZE,
    cap: float | None = None,
    delivered: Callable[[], int] | None = None,
) -> dict[str, float]:
    """Queue and deliver ``count`` emails with post_office; return the runner's figures.

    With ``cap``, delivery is stopped that many seconds after queueing ended; the figures are
    then ``delivered()`` (what the sink counted) and the rate so far, with ``capped`` 1.
    """
    started_file = Path(tempfile.mkdtemp()) / "queued"
    # -I: keep this directory (whose post_office.py would shadow the package) off sys.path.
    command = [
        str(python),
        "-I",
        str(RUNNER),
        f"--count={count}",
        f"--smtp-port={smtp_port}",
        f"--pg-url={pg_url}",
        f"--processes={processes}",
        f"--threads={threads}",
        f"--batch-size={batch_size}",
        f"--queued-file={started_file}",
    ]
    out, err = started_file.with_name("out"), started_file.with_name("err")
    # A session of its own: a run cut short is stopped with its forked senders. Output goes to
    # files: a pipe nobody reads while we wait could fill and stall the runner.
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen(
            command, stdout=stdout, stderr=stderr, text=True, start_new_session=True
        )
    try:
        figures = _finish(proc, started_file, count, cap, delivered)
        if figures:
            return figures
        if proc.returncode != 0:
            raise RuntimeError(
                f"post_office runner failed (exit {proc.returncode}):\n{err.read_text().strip()}"
            )
        found: dict[str, float] = json.loads(out.read_text().strip().splitlines()[-1])
        return found
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        shutil.rmtree(started_file.parent, ignore_errors=True)


def _finish(
    proc: subprocess.Popen[str],
    started_file: Path,
    count: int,
    cap: float | None,
    delivered: Callable[[], int] | None,
) -> dict[str, float]:
    """Wait for the runner, or until `cap` s after its queueing ended: then stop it and return
    the figures so far (empty when it finished by itself)."""
    if cap is None:
        proc.wait()
        return {}
    while proc.poll() is None and not started_file.exists():
        time.sleep(0.05)
    if proc.poll() is not None:
        return {}
    queued_at = float(started_file.read_text())
    try:
        proc.wait(max(0.0, queued_at + cap - time.time()))
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        sent = delivered() if delivered else 0
        rate = sent / (time.time() - queued_at)
        return {"emails": count, "sent": sent, "emails_per_s": rate, "capped": 1}
    return {}


def main() -> None:
    """Install if needed, run once and print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--smtp-port", type=int, required=True)
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--processes", type=int, default=PROCESSES)
    parser.add_argument("--threads", type=int, default=THREADS)
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    args = parser.parse_args()
    python = ensure_venv(Path("var/bench"))
    figures = run(
        python,
        count=args.count,
        smtp_port=args.smtp_port,
        pg_url=args.pg_url,
        processes=args.processes,
        threads=args.threads,
        batch_size=args.batch_size,
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
