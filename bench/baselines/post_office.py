"""Baseline: django-post_office in its bulk mode, PostgreSQL to an SMTP sink.

post_office and Django live in a virtualenv of their own (``var/bench/postoffice-venv``), never
in Mailroom's; ``post_office_runner.py`` runs there, and this module drives it from Mailroom's.

Try it: ``python -m bench.baselines.post_office --count 2000 --smtp-port P`` with ``bench.sink``
listening on P.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
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
) -> dict[str, float]:
    """Queue and deliver ``count`` emails with post_office; return the runner's figures."""
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
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(
            f"post_office runner failed (exit {done.returncode}):\n{done.stderr.strip()}"
        )
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


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
