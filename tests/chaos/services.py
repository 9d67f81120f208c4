"""A private RabbitMQ node and PostgreSQL cluster per chaos run, which a test may kill at will.

The machine's shared RabbitMQ (5672) and PostgreSQL (5432) are never touched: each service here
has its own node name, ports, data folder and Erlang cookie (a HOME of its own), and is stopped
by its own commands or by killing its own process group.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

from tests.support.net import free_port, wait_for_port


def _pg_bin() -> Path:
    """PostgreSQL's server binaries, whatever the version: pg_config's bindir, else Debian's
    /usr/lib/postgresql/<version>/bin (newest first; pg_config may come from libpq alone)."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            bindir = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
            candidates.append(Path(bindir))
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted(
        (Path(p) for p in versions),
        key=lambda p: [int(x) for x in re.findall(r"\d+", p.parent.name)],
        reverse=True,
    )
    if found := shutil.which("initdb"):
        candidates.append(Path(found).parent)
    for folder in candidates:
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    return candidates[0] if candidates else Path("/usr/lib/postgresql/bin")


def _rabbit_bin() -> Path:
    """rabbitmq-server's folder: Debian's package path, else wherever PATH has it."""
    debian = Path("/usr/lib/rabbitmq/bin")
    if (debian / "rabbitmq-server").exists():
        return debian
    found = shutil.which("rabbitmq-server")
    return Path(found).parent if found else debian


RABBIT_BIN = _rabbit_bin()
PG_BIN = _pg_bin()


def services_missing() -> str | None:
    """Why the chaos suite cannot run here, or None when it can."""
    for tool in (
        RABBIT_BIN / "rabbitmq-server",
        RABBIT_BIN / "rabbitmqctl",
        PG_BIN / "initdb",
        PG_BIN / "pg_ctl",
    ):
        if not tool.exists():
            return f"{tool} is not installed"
    return None


class RabbitNode:
    """`rabbitmq-server` as a node of its own (`chaos-<hex>@localhost`) on spare ports."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.name = f"chaos-{uuid.uuid4().hex[:8]}@localhost"
        self.port = free_port()
        self.dist_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        root.mkdir(parents=True, exist_ok=True)
        (root / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.port}\n"
            # The suite's own load: keep RabbitMQ from blocking publishers on a busy disk.
            "disk_free_limit.absolute = 50MB\n"
        )
        (root / "enabled_plugins").write_text("[].\n")  # no management plugin: boots faster
        (root / "rabbitmq-env.conf").write_text("")  # instead of /etc/rabbitmq's NODENAME
        self.env = {
            **os.environ,
            # The Erlang cookie lives in HOME: the server creates it, rabbitmqctl reads it.
            "HOME": str(root),
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(root / "log"),
            "RABBITMQ_CONFIG_FILE": str(root / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(root / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(root / "enabled_plugins"),
            "RABBITMQ_CONF_ENV_FILE": str(root / "rabbitmq-env.conf"),
            "RABBITMQ_PID_FILE": str(root / "rabbit.pid"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }

    @property
    def url(self) -> str:
        """The AMQP URL of this node (guest may log in over loopback)."""
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def start(self, timeout: float = 90) -> RabbitNode:
        """Boot the node (keeping its data from an earlier run) and wait until it serves."""
        with (self.root / "server.log").open("ab") as out:
            self.proc = subprocess.Popen(
                [str(RABBIT_BIN / "rabbitmq-server")],
                env=self.env,
                cwd=self.root,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        try:
            wait_for_port(self.port, timeout=timeout)
            while True:  # the CLI may not see the node yet right after a crash of the last one
                try:
                    self.ctl("await_startup", "--timeout", str(int(timeout)))
                    return self
                except RuntimeError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(1)
        except Exception:
            self.kill()
            raise

    def ctl(self, *args: str, timeout: float = 120) -> str:
        """`rabbitmqctl -n <node> ARGS`; its stdout."""
        done = subprocess.run(
            [str(RABBIT_BIN / "rabbitmqctl"), "-n", self.name, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {done.stderr}{done.stdout}")
        return done.stdout

    def queue_depth(self, queue: str) -> int:
        """Messages ready plus unacknowledged in `queue` (0 if it does not exist)."""
        out = self.ctl("list_queues", "-q", "--no-table-headers", "name", "messages")
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == queue:
                return int(parts[1])
        return 0

    def stop(self) -> None:
        """Graceful stop: the node closes its connections and writes its queues."""
        if self.proc is None:
            return
        try:
            self.ctl("stop", timeout=60)
            self.proc.wait(timeout=60)
        except (RuntimeError, subprocess.TimeoutExpired):
            self.kill()
        self.proc = None

    def kill(self) -> None:
        """kill -9 the node's whole process group: a crash, nothing written on the way out."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        # erl_child_setup sits in a session of its own and exits once beam is gone; wait until
        # the port is closed so that a restart is not mistaken for the dead node.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
            except OSError:
                return
            time.sleep(0.1)

    @property
    def running(self) -> bool:
        """Whether the node's process is alive."""
        return self.proc is not None and self.proc.poll() is None


class PgCluster:
    """A PostgreSQL cluster of its own (`initdb` in a temporary folder) on a spare port."""

    def __init__(self) -> None:
        # /tmp rather than pytest's tmp_path: the postgres user must reach the folder.
        self.root = Path(tempfile.mkdtemp(prefix="mailroom-chaos-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            entry = pwd.getpwnam("postgres")
            os.chown(self.root, entry.pw_uid, entry.pw_gid)

    def _run(self, *args: str, timeout: float = 120) -> None:
        cmd = list(args)
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=self.root)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)}: {done.stderr}{done.stdout}")

    def init(self) -> PgCluster:
        """initdb with trust authentication for `postgres`."""
        self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres",
                  "--auth=trust", "-N")  # fmt: skip
        return self

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        # fsync off: an OS crash is not among our faults, and it spares a busy shared disk.
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c max_connections=300"
        )
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"),
                  "-o", options, "-w", "-t", "60", "start")  # fmt: skip
        wait_for_port(self.port, timeout=30)

    def stop(self, mode: str = "fast") -> None:
        """pg_ctl stop -m MODE (`immediate` is a crash: no checkpoint, recovery on start)."""
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        """Stop the server if it runs and remove its folder."""
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def admin_url(self, database: str = "postgres") -> str:
        """A libpq URL for psycopg."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A fresh database; its SQLAlchemy URL."""
        name = f"chaos_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.admin_url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def wait_ready(self, database: str, timeout: float = 60) -> None:
        """Block until a query succeeds."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.admin_url(database), connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
