"""CPU per step of a single send, in one process: where a chain's worker time goes.

Run: ``python -m bench.single_profile [count] [--profile FILE]``. It makes a database of its
own on the machine's PostgreSQL, starts the counting sink, accepts `count` emails of the
`single` scenario through the API (test client, filesystem broker: what the API publishes is
not used), then runs the four steps of each email in turn, as a pool process would, and prints
the CPU milliseconds per email of each step and of the whole, as JSON. With ``--profile`` the
steps run under cProfile and the stats are written to FILE (read them with pstats or snakeviz).

Celery's own cost per task is not in these figures: the `single` scenario's no-op chain measures
that; this is what our steps add on top of it.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg

from bench.stack import BIN, PG_ADMIN, ROOT, free_port, http_json, wait_until

DATABASE = "mailroom_single_profile"


@contextmanager
def sink() -> Iterator[int]:
    """The counting aiosmtpd sink in a process of its own; its SMTP port."""
    smtp_port, stats_port = free_port(), free_port()
    proc = subprocess.Popen(
        [str(BIN / "python"), "-m", "bench.sink", "--smtp-port", str(smtp_port),
         "--stats-port", str(stats_port)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_until(lambda: _answers(f"http://127.0.0.1:{stats_port}/stats"), 20, "the sink")
        yield smtp_port
    finally:
        proc.terminate()
        proc.wait(10)


def _answers(url: str) -> bool:
    try:
        return http_json("GET", url)[0] == 200
    except OSError:
        return False


def fresh_database() -> str:
    """An empty database of this harness's own; its SQLAlchemy URL."""
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')
    return _url()


def _url() -> str:
    return PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + (
        f"/{DATABASE}"
    )


def reused_database() -> str:
    """The database of the last run, with its emails put back to `queued` as accepted."""
    with psycopg.connect(PG_ADMIN.rsplit("/", 1)[0] + f"/{DATABASE}", autocommit=True) as conn:
        conn.execute("DELETE FROM email_events WHERE type <> 'accepted'")
        conn.execute("DELETE FROM send_attempts")
        conn.execute(
            "UPDATE emails SET status = 'queued', attachment_manifest = NULL, send_tries = 0, "
            "claim_token = NULL, claimed_at = NULL, provider = NULL, "
            "provider_message_id = NULL, recorded_status = NULL, pinned_provider = NULL, "
            "last_error = NULL, requeues = 0, enqueued_at = now()"
        )
    return _url()


def requeue(count: int) -> list[uuid.UUID]:
    """The ids of `count` emails of the last run, oldest first."""
    with psycopg.connect(PG_ADMIN.rsplit("/", 1)[0] + f"/{DATABASE}") as conn:
        rows = conn.execute("SELECT id FROM emails ORDER BY created_at LIMIT %s", (count,))
        ids = [row[0] for row in rows]
    if len(ids) < count:
        raise RuntimeError(f"the last run accepted {len(ids)} emails, fewer than {count}")
    return ids


def accept(count: int) -> list[uuid.UUID]:
    """`count` emails of the single scenario, accepted through the API; their ids."""
    from api import create_app
    from api.keys import create_key
    from bench.scenarios import send_body
    from models.db import make_engine, make_session_factory

    app = create_app({"TESTING": True})
    factory = make_session_factory(make_engine(app.config["DATABASE_URL"]))
    with factory() as session, session.begin():
        _, key = create_key(session, "profile", ["send"])
    client = app.test_client()
    ids = []
    for serial in range(count):
        answer = client.post(
            "/send", json=send_body(serial), headers={"Authorization": f"Bearer {key}"}
        )
        if answer.status_code != 200:
            raise RuntimeError(f"POST /send answered {answer.status_code}: {answer.json}")
        ids.append(uuid.UUID(answer.json["data"]["emailId"]))  # type: ignore[index]
    return ids


def run_steps(ids: list[uuid.UUID], profiler: cProfile.Profile | None) -> dict[str, float]:
    """The four steps of every email in turn; CPU ms per email of each."""
    from tasks.pipeline import fetch_step, record_step, render_step, send_step

    steps: list[tuple[str, Callable[[uuid.UUID], object]]] = [
        ("render", render_step),
        ("fetch_attachments", fetch_step),
        ("send", send_step),
        ("record_status", record_step),
    ]
    spent = dict.fromkeys([name for name, _ in steps], 0.0)
    if profiler:
        profiler.enable()
    for eid in ids:
        for name, step in steps:
            before = time.process_time()
            step(eid)
            spent[name] += time.process_time() - before
    if profiler:
        profiler.disable()
    per_email = {name: 1000 * total / max(1, len(ids)) for name, total in spent.items()}
    per_email["all"] = sum(per_email.values())
    return per_email


def check_sent(ids: list[uuid.UUID]) -> None:
    """Refuse figures of steps that did not do their work: every email must end `sent` and
    recorded, each with one `sending` event (a step that silently did nothing costs little)."""
    with psycopg.connect(PG_ADMIN.rsplit("/", 1)[0] + f"/{DATABASE}") as conn:
        rows = conn.execute(
            "SELECT status, recorded_status, count(*) FROM emails WHERE id = ANY(%s) GROUP BY 1, 2",
            (ids,),
        ).fetchall()
        (sends,) = conn.execute(
            "SELECT count(*) FROM email_events WHERE type = 'sending' AND email_id = ANY(%s)",
            (ids,),
        ).fetchone() or (0,)
    if rows != [("sent", "sent", len(ids))] or sends != len(ids):
        raise RuntimeError(f"the steps left {rows} and {sends} sends for {len(ids)} emails")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", type=int, nargs="?", default=300)
    parser.add_argument("--profile", help="write cProfile stats of the steps here")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="run the steps on the emails the last run accepted (put back to `queued`), so that "
        "the process does only the steps: for instruction counts under callgrind",
    )
    args = parser.parse_args()
    with sink() as smtp_port:
        os.environ.update(
            DATABASE_URL=reused_database() if args.reuse else fresh_database(),
            MAILROOM_VAR_DIR=tempfile.mkdtemp(prefix="mailroom-single-profile-"),
            MAILROOM_ENV_FILE="/dev/null",
            EMAIL_PROVIDERS="smtp",
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=str(smtp_port),
            DEFAULT_FROM="bench@example.com",
            MAILROOM_RATE_LIMIT="",
            LOG_LEVEL="WARNING",
        )
        os.environ.pop("BROKER_URL", None)
        from mailroom.migrate import upgrade

        if args.reuse:
            ids = requeue(args.count + 20)
        else:
            upgrade(os.environ["DATABASE_URL"])
            ids = accept(args.count + 20)
        run_steps(ids[:20], None)  # warm-up: connections, caches, imports
        profiler = cProfile.Profile(time.process_time) if args.profile else None
        figures = run_steps(ids[20:], profiler)
        if profiler and args.profile:
            profiler.dump_stats(args.profile)
        check_sent(ids)
    print(json.dumps({name: round(ms, 3) for name, ms in figures.items()}))


if __name__ == "__main__":
    main()
