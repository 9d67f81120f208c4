"""Everything a benchmark run needs, started by the benchmark itself.

PostgreSQL and RabbitMQ are the machine's own (started by scripts/ensure-services.sh if they are
installed but down); the benchmark gets a database and a queue of its own on them. The API runs
under gunicorn, the workers are those of `bench/workers.py` with Mailroom's settings, and a
counting sink (bench/sink.py: SMTP and SendGrid v3, answering after the provider latency it is
set to) stands in for the provider. Each process logs to var/bench/logs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psycopg

from bench.sink import SENDGRID_KEY
from bench.workers import DEFAULT_WORKERS, WorkerSpec

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PG_ADMIN = os.environ.get("BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
DATABASE = os.environ.get("BENCH_DATABASE", "mailroom_bench")
BROKER = os.environ.get("BENCH_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
QUEUE = os.environ.get("BENCH_QUEUE", "mailroom-bench")
# Mailroom's lanes, as suffixes of the queue's name (celeryconfig.LANES).
LANES = ("", ".send", ".bulk", ".bulk.send", ".callbacks")


def free_port() -> int:
    """A port nobody listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pids: list[int], reaped: bool = False) -> float:
    """User + system CPU seconds these processes have used, from /proc (0 for one that is gone),
    plus, when `reaped`, what their children that exited used (a prefork pool replaces its
    processes every `worker_max_tasks_per_child` tasks, taking their CPU account with them;
    a live child is counted by itself, a reaped one in its parent's account, never both).

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
        if reaped:
            total += int(fields[13]) + int(fields[14])
    return total / ticks


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (children, their children, ...), from /proc."""
    found: list[int] = []
    stack = [pid]
    while stack:
        parent = stack.pop()
        try:
            tasks = list(Path(f"/proc/{parent}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            found += children
            stack += children
    return found


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

    def __init__(
        self,
        workdir: Path,
        *,
        workers: Sequence[WorkerSpec] = DEFAULT_WORKERS,
        api_workers: int = 2,
        provider: str = "smtp",
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.workdir = workdir
        self.logs = workdir / "logs"
        # A queue named ".send" is a lane of the benchmark's queue: "mailroom-bench.send".
        self.workers = tuple(spec.on_queue(QUEUE) for spec in workers)
        self.api_workers = api_workers
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.smtp_port = free_port()
        self.sendgrid_port = free_port()
        self.stats_port = free_port()
        self.api_port = free_port()
        self.api = f"http://127.0.0.1:{self.api_port}"
        self.db_url = f"postgresql://postgres@127.0.0.1:5432/{DATABASE}"
        self.noop_file = workdir / "noop-done"
        self.ready_dir = workdir / "ready"
        self.key = ""
        if provider not in ("smtp", "sendgrid"):
            raise ValueError(f"provider {provider!r}: smtp or sendgrid")
        self.env = {
            **os.environ,
            "DATABASE_URL": self.db_url.replace("postgresql://", "postgresql+psycopg://"),
            "BROKER_URL": BROKER,
            "MAILROOM_QUEUE": QUEUE,
            "MAILROOM_VAR_DIR": str(workdir / "var"),
            "EMAIL_PROVIDERS": provider,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.smtp_port),
            "SENDGRID_HOST": f"http://127.0.0.1:{self.sendgrid_port}",
            "SENDGRID_API_KEY": SENDGRID_KEY,
            "DEFAULT_FROM": "bench@example.com",
            # Benchmarks measure throughput, not the per-key limit.
            "MAILROOM_RATE_LIMIT": "",
            "LOG_LEVEL": "WARNING",
            "BENCH_NOOP_DONE_FILE": str(self.noop_file),
            "PROMETHEUS_MULTIPROC_DIR": str(workdir / "metrics"),
            "BENCH_READY_DIR": str(self.ready_dir),
            **(extra_env or {}),
        }

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Services, a fresh database, the sink, the API and the workers."""
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
                str(BIN / "python"), "-m", "bench.sink", "--smtp-port", str(self.smtp_port),
                "--sendgrid-port", str(self.sendgrid_port), "--stats-port", str(self.stats_port),
            ],
        )  # fmt: skip
        wait_until(self._sink_up, 20, "the SMTP sink")
        self.start_api()
        self.purge()
        self.start_workers()

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
        """Stop one process group: TERM, then KILL after `timeout` s (at once if 0)."""
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM if timeout else signal.SIGKILL)
        try:
            proc.wait(timeout or None)
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
        # A loaded host can take most of a minute to boot the workers.
        wait_until(lambda: self._get_ok(f"{self.api}/health"), 120, "the API")

    def worker_names(self) -> list[str]:
        """The names (in `procs`) of the worker processes the stack runs."""
        return [f"worker{n}" for n in range(len(self.workers))]

    def start_workers(self) -> None:
        """The workers of `self.workers` (bench/workers.py), the no-op tasks registered too;
        back when each has said it is ready (bench/noop.py's `worker_ready` handler)."""
        self.ready_dir.mkdir(parents=True, exist_ok=True)
        nodes = []
        for name, spec in zip(self.worker_names(), self.workers, strict=True):
            node = f"bench-{name}@%h"
            (self.ready_dir / node.split("@")[0]).unlink(missing_ok=True)
            command = spec.command(str(BIN / "celery"), "bench.noop", node)
            self.spawn(name, command, {**self.env, **spec.env})
            nodes.append(node.split("@")[0])
        wait_until(
            lambda: all((self.ready_dir / node).exists() for node in nodes), 90, "the workers"
        )

    def kill_workers(self, graceful: bool = True) -> None:
        """Stop every worker: TERM, then KILL after 20 s; at once with KILL if not `graceful`
        (a run cut short: its tasks would finish their sends first)."""
        for name in self.worker_names():
            self.kill(name, timeout=20 if graceful else 0)

    def restart_workers(self) -> None:
        """Fresh workers (fresh pools: memory figures start from zero, nothing in flight)."""
        self.kill_workers()
        self.start_workers()

    def group_pids(self, name: str) -> list[int]:
        """The process `name` and everything below it (gunicorn's workers, a worker's pool)."""
        proc = self.procs.get(name)
        if proc is None:
            return []
        return [proc.pid, *descendants(proc.pid)]

    def worker_pids(self) -> list[int]:
        """Every process of every worker: main processes, pool children and below."""
        return [pid for name in self.worker_names() for pid in self.group_pids(name)]

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far by the worker, the API, the sink and the database's backends
        (read before and after a scenario: the differences are what it cost)."""
        return {
            "worker": cpu_seconds(self.worker_pids(), reaped=True),
            "api": cpu_seconds(self.group_pids("api"), reaped=True),
            "sink": cpu_seconds(self.group_pids("sink"), reaped=True),
            "postgres": cpu_seconds(self.postgres_backends()),
        }

    def postgres_backends(self) -> list[int]:
        """The server processes of the connections to the benchmark's database."""
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s", (DATABASE,)
            ).fetchall()
        return [int(row[0]) for row in rows]

    # -- state between runs ------------------------------------------------------------------

    def queues(self) -> list[str]:
        """The queues the workers consume: those named in their specs, else the default."""
        named = {q for spec in self.workers for q in spec.queues}
        base = self.env.get("MAILROOM_QUEUE", QUEUE)
        # Every lane, whoever consumes it: a message left in one would leak into the next run.
        return sorted(named | {base + lane for lane in LANES})

    def purge(self) -> None:
        """Empty the benchmark's queues."""
        subprocess.run(
            [str(BIN / "celery"), "-A", "bench.noop", "purge", "-f", "-Q", ",".join(self.queues())],
            cwd=ROOT, env=self.env, capture_output=True, check=True,
        )  # fmt: skip

    def reset(self, fresh_workers: bool = False) -> None:
        """Empty the queues, the email tables and the sink's count. With `fresh_workers`, stop
        the workers first and start new ones after: what a run cut short left in flight (or
        unacknowledged, back in the queue) must not land in the next run's count."""
        if fresh_workers:
            self.kill_workers(graceful=False)
        self.purge()
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            conn.execute("TRUNCATE emails, idempotency_keys, provider_states, rate_buckets CASCADE")
        http_json("POST", f"http://127.0.0.1:{self.stats_port}/reset")
        self.noop_file.unlink(missing_ok=True)
        if fresh_workers:
            self.start_workers()

    def set_latency(self, ms: float) -> None:
        """Make the sink (SMTP and SendGrid) answer each message after `ms` milliseconds."""
        http_json("POST", f"http://127.0.0.1:{self.stats_port}/latency", {"ms": ms})

    def sink_stats(self) -> dict[str, Any]:
        """{"count", "first", "last", "max_in_flight", "latency_ms"} of the sink."""
        return http_json("GET", f"http://127.0.0.1:{self.stats_port}/stats")[1]  # type: ignore[no-any-return]

    def sink_arrivals(self) -> dict[str, float]:
        """When each tracked email id arrived at the sink (time.time())."""
        rows = http_json("GET", f"http://127.0.0.1:{self.stats_port}/arrivals")[1]
        return {email_id: at for email_id, at in rows}

    def wait_sink(self, count: int, timeout: float) -> dict[str, Any]:
        """Wait until the sink has `count` messages; its stats then."""
        wait_until(lambda: self.sink_stats()["count"] >= count, timeout, f"{count} messages", 0.1)
        return self.sink_stats()

    def wait_delivered(self, count: int, deadline: float) -> int:
        """Wait until the sink has answered `count` messages or time.monotonic() passes
        `deadline`; how many it had answered then."""
        while True:
            seen = int(self.sink_stats()["count"])
            if seen >= count or time.monotonic() >= deadline:
                return seen
            time.sleep(0.1)

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
