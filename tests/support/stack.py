"""Runs Mailroom's real processes (gunicorn API, Celery worker, beat) for integration tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from tests.support.net import free_port, wait_for_port

BIN = Path(sys.executable).parent
# Processes run from the checkout: Celery puts the working folder first on sys.path, so a
# folder named like one of our packages (storage/, models/) elsewhere would shadow it.
REPO_ROOT = Path(__file__).resolve().parents[2]
FINAL = {"sent", "delivered", "bounced", "complained", "failed", "suppressed"}


class Stack:
    """A set of Mailroom processes sharing one environment; every process is stopped at the end."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.env = {
            **os.environ,
            "MAILROOM_ENV_FILE": "/dev/null",
            "MAILROOM_VAR_DIR": str(workdir / "var"),
            # Each stack counts its own metrics (the test process may have set this variable).
            "PROMETHEUS_MULTIPROC_DIR": str(workdir / "var" / "metrics"),
            "MAILROOM_QUEUE": f"mailroom-test-{uuid.uuid4().hex[:10]}",
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, Path] = {}
        self.api_url = ""
        self.api_key = ""

    # processes ------------------------------------------------------------------------------

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        log = self.workdir / f"{name}.log"
        self.logs[name] = log
        with log.open("ab") as out:
            self.procs[name] = subprocess.Popen(
                args,
                env={**self.env, **(env or {})},
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=REPO_ROOT,
                start_new_session=True,
            )

    def cli(self, *args: str, env: dict[str, str] | None = None) -> str:
        """Run `mailroom ARGS` with the stack's environment; its stdout."""
        done = subprocess.run(
            [str(BIN / "mailroom"), *args],
            env={**self.env, **(env or {})},
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr + done.stdout
        return done.stdout

    def python(self, code: str) -> str:
        """Run Python code with the stack's environment (e.g. to publish tasks); its stdout."""
        done = subprocess.run(
            [sys.executable, "-c", code],
            env=self.env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def send_through_smtp(self, port: int) -> None:
        """The SMTP relay on loopback `port` (a test's sink) as the only provider."""
        self.env.update(
            {"EMAIL_PROVIDERS": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port)}
        )

    def migrate_and_key(self) -> str:
        """Apply migrations and create an all-scopes key, as an operator would."""
        self.cli("db", "upgrade")
        self.api_key = (
            self.cli("keys", "create", "--name", "tests", "--scopes", "send,read,templates,admin")
            .strip()
            .splitlines()[-1]
        )
        return self.api_key

    def start_api(self, env: dict[str, str] | None = None, workers: int = 2) -> str:
        """gunicorn serving the API on a free port; its base URL."""
        port = free_port()
        self._spawn(
            "api",
            [
                str(BIN / "gunicorn"),
                "-c",
                "python:mailroom.gunicorn_conf",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(workers),
                "--timeout",
                "30",
                "mailroom.wsgi:app",
            ],
            env,
        )
        wait_for_port(port, timeout=30)
        self.api_url = f"http://127.0.0.1:{port}"
        return self.api_url

    def start_worker(
        self,
        name: str = "worker",
        concurrency: int = 2,
        env: dict[str, str] | None = None,
        *,
        pool: str = "prefork",
        lanes: tuple[str, ...] = (),
    ) -> None:
        """A Celery worker (prefork by default) on every lane, or on `lanes` (suffixes of the
        queue name: "" for transactional rendering, ".send", ".bulk", ".bulk.send",
        ".callbacks"); returns once it is ready for tasks."""
        queue = self.env.get("MAILROOM_QUEUE", "mailroom")
        only = ["-Q", ",".join(queue + lane for lane in lanes)] if lanes else []
        self._spawn(
            name,
            [
                str(BIN / "celery"),
                "-A",
                "tasks.app",
                "worker",
                *only,
                "--pool",
                pool,
                "--concurrency",
                str(concurrency),
                "--loglevel",
                "INFO",
                "--hostname",
                f"{name}-{uuid.uuid4().hex[:6]}@%h",
                "--without-mingle",
                "--without-gossip",
            ],
            env,
        )
        self.wait_for_log(name, "ready.", timeout=60)

    def start_beat(self, env: dict[str, str] | None = None) -> None:
        """Celery beat, which runs the sweeper every MAILROOM_SWEEP_INTERVAL_SECONDS."""
        self._spawn(
            "beat",
            [
                str(BIN / "celery"),
                "-A",
                "tasks.app",
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                str(self.workdir / "beat-schedule"),
            ],
            env,
        )
        self.wait_for_log("beat", "beat: Starting", timeout=60)

    def wait_for_log(self, name: str, needle: str, timeout: float) -> None:
        """Block until `needle` appears in the process's output."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.logs[name].read_text(errors="replace"):
                return
            proc = self.procs[name]
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.tail(name)}")
            time.sleep(0.1)
        raise TimeoutError(f"{name} never logged {needle!r}:\n{self.tail(name)}")

    def tail(self, name: str, lines: int = 60) -> str:
        """The end of a process's output."""
        return "\n".join(self.logs[name].read_text(errors="replace").splitlines()[-lines:])

    def kill(self, name: str, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        """Signal a process group and wait for it."""
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        except ProcessLookupError:
            pass

    def stop(self) -> None:
        """Stop every process this stack started."""
        for name in list(self.procs):
            self.kill(name)

    def dump_logs(self) -> str:
        """Every process's output tail, for a failing test's report."""
        return "\n".join(f"--- {name} ---\n{self.tail(name)}" for name in self.logs)

    # HTTP -----------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> tuple[int, Any]:
        """One JSON request to the API with the stack's key; (status, parsed body)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.api_url + path,
            data=data,
            method=method,
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {self.api_key}",
                **(headers or {}),
            },
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"null")

    def post_raw(
        self, path: str, body: bytes, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        """POST bytes as they are (a provider's webhook), without our API key."""
        req = urllib.request.Request(
            self.api_url + path, data=body, method="POST", headers=headers or {}
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"null")

    def send(self, body: dict[str, Any]) -> str:
        """POST /send that must be accepted; the email id."""
        status, answer = self.request("POST", "/send", body)
        assert status == 200, (status, answer)
        return str(answer["data"]["emailId"])

    def email(self, email_id: str) -> dict[str, Any]:
        """GET /emails/<id>'s data."""
        status, answer = self.request("GET", f"/emails/{email_id}")
        assert status == 200, (status, answer)
        data: dict[str, Any] = answer["data"]
        return data

    def wait_for(
        self,
        email_ids: Iterable[str],
        done: Callable[[dict[str, Any]], bool] = lambda e: e["status"] in FINAL,
        timeout: float = 60,
    ) -> dict[str, dict[str, Any]]:
        """Poll until every email satisfies `done` (default: a final status); their data."""
        pending = list(email_ids)
        seen: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            for eid in list(pending):
                seen[eid] = self.email(eid)
                if done(seen[eid]):
                    pending.remove(eid)
            if pending:
                time.sleep(0.2)
        if pending:
            states = {eid: seen[eid]["status"] for eid in pending}
            raise TimeoutError(f"not done after {timeout}s: {states}\n{self.dump_logs()}")
        return seen
