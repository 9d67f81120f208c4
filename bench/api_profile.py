"""CPU per request of `POST /send` and of the bare endpoint, in process (Flask test client).

Runs the API scenario's body (`bench.scenarios.send_body`) through the test client against a
fresh, migrated PostgreSQL database and the machine's RabbitMQ (a queue of its own, purged at
the end), and the same number of requests to `/bench/bare`; prints the CPU milliseconds per
request of this process (and of the PostgreSQL backends serving it), in rounds that alternate
between the two so that a noisy machine affects both alike.

    .venv/bin/python -m bench.api_profile [--requests 300] [--rounds 3] [--profile send.html]

With `--profile`, one more round of /send runs under pyinstrument and is written as HTML
(or as text when the file name ends in .txt).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.stack import cpu_seconds

PG_ADMIN = os.environ.get("BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
BROKER = os.environ.get("BENCH_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
QUEUE = "mailroom-apiprof"
DATABASE = f"mailroom_apiprof_{uuid.uuid4().hex[:8]}"


def _environment(var_dir: Path) -> None:
    """What bench/stack.py gives the API, set before any of Mailroom's modules is imported."""
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    os.environ.update(
        {
            "MAILROOM_ENV_FILE": "/dev/null",
            "DATABASE_URL": f"{base}/{DATABASE}",
            "BROKER_URL": BROKER,
            "MAILROOM_QUEUE": QUEUE,
            "MAILROOM_VAR_DIR": str(var_dir),
            "EMAIL_PROVIDERS": "smtp",
            "DEFAULT_FROM": "bench@example.com",
            "MAILROOM_RATE_LIMIT": "",
            "LOG_LEVEL": "WARNING",
            "PROMETHEUS_MULTIPROC_DIR": str(var_dir / "metrics"),
        }
    )
    (var_dir / "metrics").mkdir(parents=True, exist_ok=True)


@contextmanager
def _database() -> Iterator[None]:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{DATABASE}"')
    try:
        yield
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


def _backends() -> list[int]:
    """The PostgreSQL backends connected to the benchmark's database."""
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", (DATABASE,)
        ).fetchall()
    return [int(row[0]) for row in rows]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per round and path")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", type=Path, help="pyinstrument output for one /send round")
    parser.add_argument("--only", choices=("send", "bare"), help="measure one path only")
    args = parser.parse_args(argv)

    import tempfile

    _environment(Path(tempfile.mkdtemp(prefix="mailroom-apiprof-")))
    with _database():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from api import create_app
    from api.keys import create_key
    from bench.noop import _add_bare_endpoint
    from bench.scenarios import send_body
    from mailroom import logs
    from mailroom.migrate import upgrade
    from tasks.app import celery_app

    url = os.environ["DATABASE_URL"]
    upgrade(url)
    logs.configure()
    app = create_app()
    _add_bare_endpoint(app)
    sessions = app.extensions["mailroom.sessions"]
    with sessions() as session:
        _, plaintext = create_key(session, "apiprof", ["send", "read", "templates", "admin"])
        session.commit()
    headers = {"Authorization": f"Bearer {plaintext}"}
    client = app.test_client()
    import json

    body = json.dumps(send_body(1))

    def send() -> None:
        answer = client.post("/send", data=body, headers=headers, content_type="application/json")
        if answer.status_code != 200:
            raise RuntimeError(f"/send answered {answer.status_code}: {answer.get_data(True)}")

    def bare() -> None:
        answer = client.post(
            "/bench/bare", data="{}", headers=headers, content_type="application/json"
        )
        if answer.status_code != 202:
            raise RuntimeError(f"/bench/bare answered {answer.status_code}")

    paths: dict[str, Callable[[], None]] = {"send": send, "bare": bare}
    if args.only:
        paths = {args.only: paths[args.only]}
    try:
        for call in paths.values():  # warm up: imports, pool, broker connection, caches
            for _ in range(30):
                call()
        results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in paths}
        for _ in range(args.rounds):
            for name, call in paths.items():
                results[name].append(_measure(call, args.requests))
        for name, rows in results.items():
            cpu = sorted(r[0] for r in rows)
            pg = sorted(r[1] for r in rows)
            wall = sorted(r[2] for r in rows)
            print(
                f"{name:5s} CPU ms/request: min {cpu[0]:.2f} median {cpu[len(cpu) // 2]:.2f}"
                f" | PostgreSQL backend CPU ms/request: median {pg[len(pg) // 2]:.2f}"
                f" | wall ms/request: median {wall[len(wall) // 2]:.2f}"
            )
        if "send" in results and "bare" in results:
            ours = sorted(r[0] + r[1] for r in results["send"])[len(results["send"]) // 2]
            base = sorted(r[0] + r[1] for r in results["bare"])[len(results["bare"]) // 2]
            print(f"send/bare (process + backend CPU, medians): {ours / base:.2f}")
        if args.profile:
            _profile(send, args.requests, args.profile)
    finally:
        with celery_app.connection_for_write() as conn:
            conn.default_channel.queue_purge(QUEUE)
        app.extensions["mailroom.engine"].dispose()
    return 0


def _measure(call: Callable[[], None], count: int) -> tuple[float, float, float]:
    """(process CPU ms, PostgreSQL backend CPU ms, wall ms) per call, over `count` calls."""
    pids = _backends()
    pg_before = cpu_seconds(pids)
    cpu_before = time.process_time()
    wall_before = time.perf_counter()
    for _ in range(count):
        call()
    cpu = time.process_time() - cpu_before
    wall = time.perf_counter() - wall_before
    pg = cpu_seconds(pids) - pg_before
    return cpu * 1000 / count, pg * 1000 / count, wall * 1000 / count


def _profile(call: Callable[[], None], count: int, out: Path) -> None:
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005)
    profiler.start()
    for _ in range(count):
        call()
    profiler.stop()
    session: Any = profiler
    if out.suffix == ".txt":
        out.write_text(session.output_text(unicode=True, show_all=False))
    else:
        out.write_text(session.output_html())
    print(f"profile written to {out}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
