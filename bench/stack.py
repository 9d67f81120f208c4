"""Everything a benchmark run needs, started by the benchmark itself.

PostgreSQL and RabbitMQ are the machine's own (started by scripts/ensure-services.sh if they are
installed but down); the benchmark gets a database and a queue of its own on them. The API runs
under gunicorn, the worker is Celery's prefork pool with Mailroom's settings, and a counting
aiosmtpd sink (bench/sink.py) stands in for the relay. Each process logs to var/bench/logs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PG_ADMIN = os.environ.get("BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
DATABASE = os.environ.get("BENCH_DATABASE", "mailroom_bench")
BROKER = os.environ.get("BENCH_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
QUEUE = "mailroom-bench"


def free_port() -> int:
    """A port nobody listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pids: list[int], reaped_of: int | None = None) -> float:
    """User + system CPU seconds these processes have used, from /proc (0 for one that is gone),
    plus, for `reaped_of`, what its children that exited used (a prefork pool replaces its
    processes every `worker_max_tasks_per_child` tasks, taking their CPU account with them).

    Figures of CPU per email hold on a shared machine where rates do not: the noise of other
    work lands in wall-clock time, not in our processes' CPU accounts.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # utime, stime; then cutime, cstime: the children this process waited for.
        total += int(fields[11]) + int(fields[12])
        if pid == reaped_of:
            total += int(fields[13]) + int(fields[14])
    return total / ticks


def wait_until(check: Callable[[], bool], timeout: float, what: str, every: float = 0.05) -> None:
    """Poll `check` until it holds; a RuntimeError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(every)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


def http_json(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    """A JSON request with the standard library; (status, decoded body)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


class Stack:
    """The processes of one benchmark session; `start()` once, `stop()` at the end."""

    def __init__(self, workdir: Path, *, concurrency: int = 2, api_workers: int = 2) -> None:
        self.workdir = workdir
        self.logs = workdir / "logs"
        self.concurrency = concurrency
        self.api_workers = api_workers
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.smtp_port = free_port()
        self.stats_port = free_port()
        self.api_port = free_port()
        self.api = f"http://127.0.0.1:{self.api_port}"
        self.db_url = f"postgresql://postgres@127.0.0.1:5432/{DATABASE}"
        self.noop_file = workdir / "noop-done"
        self.key = ""
        self.env = {
            **os.environ,
            "DATABASE_URL": self.db_url.replace("postgresql://", "postgresql+psycopg://"),
            "BROKER_URL": BROKER,
            "MAILROOM_QUEUE": QUEUE,
            "MAILROOM_VAR_DIR": str(workdir / "var"),
            "EMAIL_PROVIDERS": "smtp",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.smtp_port),
            "DEFAULT_FROM": "bench@example.com",
            # Benchmarks measure throughput, not the per-key limit.
            "MAILROOM_RATE_LIMIT": "",
            "LOG_LEVEL": "WARNING",
            "BENCH_NOOP_DONE_FILE": str(self.noop_file),
            "PROMETHEUS_MULTIPROC_DIR": str(workdir / "metrics"),
        }

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Services, a fresh database, the sink, the API and the worker."""
        self.logs.mkdir(parents=True, exist_ok=True)
        (self.workdir / "metrics").mkdir(parents=True, exist_ok=True)
        subprocess.run([str(ROOT / "scripts" / "ensure-services.sh")], check=True)
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{DATABASE}"')
        self.cli("db", "upgrade")
        self.key = (
            self.cli("keys", "create", "--name", "bench", "--scopes", "send,read,templates,admin")
            .splitlines()[-1]
            .strip()
        )
        self.spawn(
            "sink",
            [
                str(BIN / "python"), "-m", "bench.sink", "--track-ids",
                "--smtp-port", str(self.smtp_port), "--stats-port", str(self.stats_port),
            ],
        )  # fmt: skip
        wait_until(self._sink_up, 20, "the SMTP sink")
        self.start_api()
        self.purge()
        self.start_worker()

    def stop(self) -> None:
        """Stop every process (TERM, then KILL after 20 s)."""
        for name in list(self.procs):
            self.kill(name)

    def spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        """Start a process in its own session, logging to logs/<name>.log."""
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - the process owns it
        self.procs[name] = subprocess.Popen(
            args, cwd=ROOT, env=env or self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def kill(self, name: str, timeout: float = 20) -> None:
        """Stop one process group gracefully, then for good."""
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def cli(self, *args: str) -> str:
        """Run the `mailroom` command; its stdout."""
        done = subprocess.run(
            [str(BIN / "mailroom"), *args], cwd=ROOT, env=self.env, capture_output=True, text=True
        )
        if done.returncode:
            raise RuntimeError(f"mailroom {' '.join(args)} failed:\n{done.stderr}")
        return done.stdout

    def start_api(self) -> None:
        """gunicorn with the bench app: Mailroom's app plus the bare baseline endpoint."""
        env = {**self.env, "API_BIND": f"127.0.0.1:{self.api_port}"}
        env["API_WORKERS"] = str(self.api_workers)
        args = [str(BIN / "gunicorn"), "-c", "python:mailroom.gunicorn_conf", "bench.noop:wsgi_app"]
        self.spawn("api", args, env)
        wait_until(lambda: self._get_ok(f"{self.api}/health"), 30, "the API")

    def start_worker(self, extra: list[str] | None = None) -> None:
        """One Celery worker, prefork, Mailroom's settings, the no-op tasks registered too."""
        args = [
            str(BIN / "celery"), "-A", "bench.noop", "worker", "--pool", "prefork",
            "--concurrency", str(self.concurrency), "--loglevel", "WARNING", "--without-gossip",
            "--without-mingle", "--without-heartbeat", *(extra or []),
        ]  # fmt: skip
        self.spawn("worker", args)
        wait_until(self._worker_ready, 60, "the worker")

    def restart_worker(self) -> None:
        """A fresh worker (a fresh pool: memory figures start from zero)."""
        self.kill("worker")
        self.start_worker()

    def group_pids(self, name: str) -> list[int]:
        """The process `name` and its children (gunicorn's workers, the worker's pool)."""
        proc = self.procs.get(name)
        if proc is None:
            return []
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
        found = children.read_text().split() if children.exists() else []
        return [proc.pid, *(int(pid) for pid in found)]

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far by the worker, the API, the sink and the database's backends
        (read before and after a scenario: the differences are what it cost)."""
        return {
            name: cpu_seconds(self.group_pids(name), reaped_of=self._pid(name))
            for name in ("worker", "api", "sink")
        } | {"postgres": cpu_seconds(self.postgres_backends())}

    def _pid(self, name: str) -> int | None:
        proc = self.procs.get(name)
        return proc.pid if proc else None

    def postgres_backends(self) -> list[int]:
        """The server processes of the connections to the benchmark's database."""
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s", (DATABASE,)
            ).fetchall()
        return [int(row[0]) for row in rows]

    def worker_children(self) -> list[int]:
        """The pids of the worker's pool processes."""
        proc = self.procs["worker"]
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []

    # -- state between runs ------------------------------------------------------------------

    def purge(self) -> None:
        """Empty the benchmark's queue."""
        subprocess.run(
            [str(BIN / "celery"), "-A", "tasks.app", "purge", "-f", "-Q", QUEUE],
            cwd=ROOT, env=self.env, capture_output=True, check=True,
        )  # fmt: skip

    def reset(self) -> None:
        """Empty the queue, the email tables and the sink's count."""
        self.purge()
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            conn.execute("TRUNCATE emails, idempotency_keys, provider_states, rate_buckets CASCADE")
        http_json("POST", f"http://127.0.0.1:{self.stats_port}/reset")
        self.noop_file.unlink(missing_ok=True)

    def sink_stats(self) -> dict[str, Any]:
        """{"count", "first", "last"} of the sink."""
        return http_json("GET", f"http://127.0.0.1:{self.stats_port}/stats")[1]  # type: ignore[no-any-return]

    def sink_arrivals(self) -> dict[str, float]:
        """When each tracked email id arrived at the sink (time.time())."""
        rows = http_json("GET", f"http://127.0.0.1:{self.stats_port}/arrivals")[1]
        return {email_id: at for email_id, at in rows}

    def wait_sink(self, count: int, timeout: float) -> dict[str, Any]:
        """Wait until the sink has `count` messages; its stats then."""
        wait_until(lambda: self.sink_stats()["count"] >= count, timeout, f"{count} messages", 0.1)
        return self.sink_stats()

    def count_status(self, status: str) -> int:
        """How many emails are in `status`."""
        with psycopg.connect(self.db_url) as conn:
            row = conn.execute(
                "SELECT count(*) FROM emails WHERE status = %s", (status,)
            ).fetchone()
        return int(row[0]) if row else 0

    def last_sent_at(self) -> float:
        """When the last `sent` was recorded (epoch seconds)."""
        with psycopg.connect(self.db_url) as conn:
            row = conn.execute(
                "SELECT extract(epoch FROM max(at)) FROM email_events WHERE type = 'sent'"
            ).fetchone()
        return float(row[0]) if row and row[0] is not None else 0.0

    def auth(self) -> dict[str, str]:
        """The API key header."""
        return {"Authorization": f"Bearer {self.key}"}

    # -- helpers -----------------------------------------------------------------------------

    def _sink_up(self) -> bool:
        return self._get_ok(f"http://127.0.0.1:{self.stats_port}/stats")

    def _get_ok(self, url: str) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def _worker_ready(self) -> bool:
        # At WARNING level the worker prints no "ready": its pool being up is the sign.
        return len(self.worker_children()) >= self.concurrency
