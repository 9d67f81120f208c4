# Django and post_office are installed only in the post_office venv, not where mypy runs.
# mypy: disable-error-code="import-not-found"
"""Queue and deliver emails with django-post_office; print the figures as one JSON line.

Runs under the post_office virtualenv's python (see ``post_office.py`` beside it), never under
Mailroom's: it imports Django, post_office and psycopg only. Django is configured in-process.
Run it as ``python -I post_office_runner.py ...``: without -I, ``post_office.py`` in this directory
would shadow the post_office package.
Queueing is ``mail.send_many`` (one ``bulk_create`` per chunk); delivery is
``send_queued_mail_until_done``, what ``manage.py send_queued_mail --processes N`` runs: batches of
``BATCH_SIZE`` split over N forked processes, each sending through ``THREADS_PER_PROCESS`` threads
that keep one SMTP connection each, then marking its share sent with one ``UPDATE``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg import sql

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/mailroom_bench_postoffice"
QUEUE_CHUNK = 1000
LINE = "Your order has shipped and is on its way to the address you gave us."
TEXT = "Hello,\n\n" + f"{LINE}\n" * 30  # about 2 KB
HTML = "<html><body><h1>Hello</h1>\n" + f"<p><b>{LINE}</b></p>\n" * 50 + "</body></html>\n"  # 4 KB


def _database(url: str) -> dict[str, Any]:
    """Django's DATABASES entry for a ``postgresql://`` URL."""
    parts = urlsplit(url)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parts.path.lstrip("/") or "postgres",
        "USER": unquote(parts.username or "postgres"),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "127.0.0.1",
        "PORT": str(parts.port or 5432),
    }


def _create_database(db: dict[str, Any]) -> None:
    """Create the benchmark database if it is missing, through the ``postgres`` database."""
    conninfo = {k.lower(): db[k] for k in ("USER", "PASSWORD", "HOST", "PORT") if db[k]}
    with psycopg.connect(dbname="postgres", autocommit=True, **conninfo) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db["NAME"],))
        if found.fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))


def _configure(db: dict[str, Any], args: argparse.Namespace) -> None:
    """Configure Django for post_office's fastest documented mode, then set it up."""
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        USE_TZ=True,
        INSTALLED_APPS=["post_office"],
        DATABASES={"default": db},
        TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates"}],
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=args.smtp_port,
        EMAIL_TIMEOUT=30,
        POST_OFFICE={
            "BATCH_SIZE": args.batch_size,
            "THREADS_PER_PROCESS": args.threads,
            "LOG_LEVEL": 1,  # a Log row for failures only; none on success
            "CELERY_ENABLED": False,
            "DEFAULT_PRIORITY": "medium",
            "BATCH_DELIVERY_TIMEOUT": 600,
        },
    )
    django.setup()
    logging.getLogger("post_office").setLevel(logging.WARNING)


def _reset() -> None:
    """Apply post_office's migrations and empty its tables."""
    from django.apps import apps
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0, interactive=False)
    tables = [m._meta.db_table for m in apps.get_app_config("post_office").get_models()]
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")


def _queue(count: int) -> None:
    """Queue ``count`` single-recipient emails with ``send_many``."""
    from post_office import mail

    for start in range(0, count, QUEUE_CHUNK):
        mail.send_many(
            [
                {
                    "sender": "Mailroom Bench <bench@mailroom.test>",
                    "recipients": [f"user{i}@example.com"],
                    "subject": f"Your order #{i} has shipped",
                    "message": TEXT,
                    "html_message": HTML,
                    "priority": "medium",
                }
                for i in range(start, min(start + QUEUE_CHUNK, count))
            ]
        )


def _deliver(processes: int, lockfile: str) -> int:
    """Deliver everything queued; return how many emails ended ``sent``."""
    from django.db import connection
    from post_office.mail import send_queued_mail_until_done
    from post_office.models import STATUS, Email

    send_queued_mail_until_done(lockfile=lockfile, processes=processes, log_level=1)
    connection.close()  # forked workers may have closed the socket this one shared
    sent: int = Email.objects.filter(status=STATUS.sent).count()
    return sent


def main() -> None:
    """Parse arguments, run the benchmark and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--smtp-port", type=int, required=True)
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--threads", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--queued-file", help="where to write time.time() once all are queued")
    args = parser.parse_args()

    db = _database(args.pg_url)
    _create_database(db)
    _configure(db, args)
    _reset()

    started = time.perf_counter()
    _queue(args.count)
    queued = time.perf_counter()
    if args.queued_file:
        # The harness times a capped delivery from here.
        written = Path(args.queued_file + ".tmp")
        written.write_text(repr(time.time()))
        written.rename(args.queued_file)
    with tempfile.TemporaryDirectory() as tmp:
        sent = _deliver(args.processes, str(Path(tmp) / "post_office"))
    delivered = time.perf_counter()

    queue_seconds, send_seconds = queued - started, delivered - queued
    figures = {
        "emails": args.count,
        "sent": sent,
        "processes": args.processes,
        "threads_per_process": args.threads,
        "batch_size": args.batch_size,
        "queue_seconds": round(queue_seconds, 3),
        "send_seconds": round(send_seconds, 3),
        "emails_per_s": round(args.count / send_seconds, 1),
        "end_to_end_per_s": round(args.count / (queue_seconds + send_seconds), 1),
    }
    print(json.dumps(figures))
    if sent < args.count:
        print(f"only {sent} of {args.count} emails were sent", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
