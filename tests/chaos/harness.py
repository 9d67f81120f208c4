"""The chaos harness: load through the HTTP API, a census from the database, counted results.

A scenario starts Mailroom's processes with `tests.support.stack.Stack` on the private services
of `tests.chaos.services`, drives `Load` (bounded threads posting `/send`), injects one fault,
lets `Census` wait (one `GROUP BY status` query a second) until every stored email is final,
and reports a `ChaosResult`: one printed line and one JSON file under `var/chaos/`.

Every scenario proves two things. Its fault struck what it meant to (a killed worker held
tasks, see `held_tasks`; a provider timed out; the broker dropped the workers' connections),
so that a fault that missed fails rather than passes. And `ChaosResult.assert_delivered`: every
accepted email ends `sent` (`failed` is final, but not delivered), a provider received it, and
each copy beyond the first is explained by a `reclaimed` or `ambiguous` event of that email.
"""

from __future__ import annotations

import collections
import http.client
import json
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from tests.support.sendgrid_server import SendGridServer
from tests.support.smtp_sink import SmtpSink
from tests.support.stack import FINAL, REPO_ROOT, Stack

# Emails a second the load posts by default: what two workers on this 2-core machine keep up
# with while other suites run beside them, so that faults, not the backlog, are measured.
RATE = 12.0
RESULTS_DIR = REPO_ROOT / "var" / "chaos"
# Every line printed by a scenario, repeated in pytest's terminal summary (see conftest.py).
LINES: list[str] = []

# Fast recovery for a suite that must finish in minutes: a short lease, a sweeper every two
# seconds, short backoffs, and no rate limit in front of the load. The lease must stay above
# the queue's backlog (see `RATE`): the sweeper re-publishes every email older than the lease,
# queued or not, and a backlog longer than the lease turns into a re-publish storm.
FAST_ENV = {
    "MAILROOM_SWEEP_LEASE_SECONDS": "20",
    "MAILROOM_SWEEP_INTERVAL_SECONDS": "2",
    "MAILROOM_RETRY_BACKOFF_SECONDS": "0.5",
    "MAILROOM_RETRY_BACKOFF_MAX_SECONDS": "2",
    "MAILROOM_SEND_MAX_RETRIES": "30",
    "MAILROOM_PROVIDER_COOLDOWN_SECONDS": "3",
    "MAILROOM_RATE_LIMIT": "",
}


def plain_email(run: str, n: int) -> dict[str, Any]:
    """A small inline email whose subject names the run and its number (unique per run)."""
    return {
        "from": "Chaos <chaos@example.com>",
        "to": f"user{n}@example.com",
        "subject": f"chaos {run} #{n}",
        "html": "<p>Hello {{ name }}, this is message {{ n }}.</p>",
        "variables": {"name": f"user{n}", "n": n},
        "tags": [f"chaos-{run}"],
    }


# load -------------------------------------------------------------------------------------


@dataclass
class Answer:
    """One request's outcome: HTTP status (0 when no answer came), latency, email id if 200."""

    n: int
    status: int
    seconds: float
    started: float
    email_id: str | None = None
    error: str | None = None


class Load:
    """POSTs `total` emails to /send from `threads` threads, at most `rate` a second overall."""

    def __init__(
        self,
        stack: Stack,
        body: Callable[[int], dict[str, Any]],
        total: int,
        *,
        threads: int = 6,
        rate: float | None = RATE,
        timeout: float = 35.0,
    ) -> None:
        self.stack = stack
        self.body = body
        self.total = total
        self.threads = threads
        self.rate = rate
        self.timeout = timeout
        self.answers: list[Answer] = []
        self._next = 0
        self._lock = threading.Lock()
        self._workers: list[threading.Thread] = []
        self._t0 = 0.0

    def _take(self) -> int | None:
        with self._lock:
            if self._next >= self.total:
                return None
            n, self._next = self._next, self._next + 1
        if self.rate:
            delay = self._t0 + n / self.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        return n

    def _post(self, n: int) -> Answer:
        url = urllib.parse.urlsplit(self.stack.api_url)
        conn = http.client.HTTPConnection(
            url.hostname or "127.0.0.1", url.port, timeout=self.timeout
        )
        started = time.monotonic()
        try:
            conn.request(
                "POST",
                "/send",
                body=json.dumps(self.body(n)),
                headers={
                    "Content-Type": "application/json",
                    "Authorization": f"Bearer {self.stack.api_key}",
                },
            )
            resp = conn.getresponse()
            raw = resp.read()
            seconds = time.monotonic() - started
            email_id = None
            if resp.status == 200:
                email_id = str(json.loads(raw)["data"]["emailId"])
            error = None if resp.status == 200 else raw[:300].decode(errors="replace")
            return Answer(n, resp.status, seconds, started, email_id, error)
        except (OSError, http.client.HTTPException) as err:
            return Answer(n, 0, time.monotonic() - started, started, None, repr(err))
        finally:
            conn.close()

    def _run(self) -> None:
        while (n := self._take()) is not None:
            answer = self._post(n)
            with self._lock:
                self.answers.append(answer)

    def start(self) -> Load:
        """Begin posting in the background."""
        self._t0 = time.monotonic()
        self._workers = [
            threading.Thread(target=self._run, daemon=True) for _ in range(self.threads)
        ]
        for worker in self._workers:
            worker.start()
        return self

    def join(self, timeout: float = 600) -> Load:
        """Wait until every request has its answer."""
        deadline = time.monotonic() + timeout
        for worker in self._workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        if any(w.is_alive() for w in self._workers):
            raise TimeoutError(f"load not done after {timeout}s")
        return self

    def run(self) -> Load:
        """start() and join()."""
        return self.start().join()

    @property
    def done(self) -> int:
        """Requests answered so far."""
        with self._lock:
            return len(self.answers)

    @property
    def accepted(self) -> list[str]:
        """Ids of the emails the API accepted with 200."""
        with self._lock:
            return [a.email_id for a in self.answers if a.email_id is not None]

    def statuses(self) -> dict[int, int]:
        """How many answers of each HTTP status (0: no answer)."""
        with self._lock:
            return dict(collections.Counter(a.status for a in self.answers))

    def max_latency(self) -> float:
        """The slowest request, in seconds."""
        with self._lock:
            return max((a.seconds for a in self.answers), default=0.0)


# census -----------------------------------------------------------------------------------


class Census:
    """Reads the stack's database directly: cheap counts while waiting, details at the end."""

    def __init__(self, database_url: str) -> None:
        self.url = database_url.replace("postgresql+psycopg://", "postgresql://")

    def query(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        """Rows of one query on a short-lived connection (the server may just have restarted)."""
        with psycopg.connect(self.url, connect_timeout=3) as conn:
            return list(conn.execute(sql, params).fetchall())

    def counts(self) -> dict[str, int]:
        """Emails by status."""
        return {str(s): int(c) for s, c in self.query(
            "SELECT status, count(*) FROM emails GROUP BY status")}  # fmt: skip

    def wait_final(self, expected: int, timeout: float, settle: float = 1.0) -> dict[str, int]:
        """Poll once a second until at least `expected` emails are stored and all are final."""
        deadline = time.monotonic() + timeout
        counts: dict[str, int] = {}
        while time.monotonic() < deadline:
            try:
                counts = self.counts()
            except psycopg.OperationalError:
                counts = {}
            total = sum(counts.values())
            if counts and total >= expected and all(s in FINAL for s in counts):
                time.sleep(settle)  # a copy sent by a late duplicate lands meanwhile
                return counts
            time.sleep(1.0)
        return counts

    def stored(self) -> list[str]:
        """Ids of every stored email (answered or not: an API process may die after its commit)."""
        return [str(i) for (i,) in self.query("SELECT id::text FROM emails")]

    def status_of(self, ids: Iterable[str]) -> dict[str, str]:
        """email id -> status."""
        wanted = list(ids)
        rows = self.query("SELECT id::text, status FROM emails WHERE id::text = ANY(%s)", (wanted,))
        return {str(i): str(s) for i, s in rows}

    def events(self, type_: str) -> collections.Counter[str]:
        """email id -> how many events of `type_` it has."""
        rows = self.query(
            "SELECT email_id::text, count(*) FROM email_events WHERE type = %s GROUP BY email_id",
            (type_,),
        )
        return collections.Counter({str(i): int(c) for i, c in rows})


def smtp_ids(sink: SmtpSink) -> list[str]:
    """The X-Mailroom-Email-Id of every message the SMTP sink received, duplicates included."""
    with sink.lock:
        return [str(r.message["X-Mailroom-Email-Id"]) for r in sink.received]


def sendgrid_ids(server: SendGridServer) -> list[str]:
    """The X-Mailroom-Email-Id of every message the SendGrid server accepted."""
    with server.lock:
        return [
            str(a.payload.get("headers", {}).get("X-Mailroom-Email-Id")) for a in server.received
        ]


def duplicates(received: Mapping[str, list[str]]) -> dict[str, int]:
    """email id -> copies beyond the first, over every provider together."""
    counts = collections.Counter(eid for ids in received.values() for eid in ids)
    return {eid: n - 1 for eid, n in counts.items() if n > 1}


# worker logs ------------------------------------------------------------------------------

# Celery's own lines (in our JSON logs): "Task <name>[<id>] received", then "succeeded in",
# "retry:", "raised unexpected", ... A retried task comes back with the same id.
_TASK_LINE = re.compile(r"Task (?P<name>[\w.]+)\[(?P<id>[0-9a-f-]{36})\] (?P<what>\w+)")


@dataclass(frozen=True)
class HeldTask:
    """A task message a worker had received and not finished: what a kill -9 takes away."""

    name: str
    task_id: str
    args: str


def held_tasks(log: Path) -> list[HeldTask]:
    """The tasks a worker held when its log ends (received, with no outcome after)."""
    held: dict[str, HeldTask] = {}
    for line in log.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        message = record.get("message", "") if isinstance(record, dict) else ""
        if not (match := _TASK_LINE.match(str(message))):
            continue
        if match["what"] == "received":
            args = str((record.get("data") or {}).get("args", ""))
            held[match["id"]] = HeldTask(match["name"], match["id"], args)
        else:
            held.pop(match["id"], None)
    return list(held.values())


def wait_holding(
    log: Path, wanted: Callable[[list[HeldTask]], bool], timeout: float = 30
) -> list[HeldTask]:
    """Poll a live worker's log until what it holds satisfies `wanted`; what it holds then."""
    deadline = time.monotonic() + timeout
    held = held_tasks(log)
    while not wanted(held) and time.monotonic() < deadline:
        time.sleep(0.05)
        held = held_tasks(log)
    return held


def broker_lost(log: Path) -> bool:
    """Whether a worker logged that it lost its broker connection (and so reconnected)."""
    return "Connection to broker lost" in log.read_text(errors="replace")


# result -----------------------------------------------------------------------------------


@dataclass
class ChaosResult:
    """The counts of one scenario, printed on one line and kept as JSON for the docs."""

    scenario: str
    accepted: int
    final: int
    lost: int
    duplicates: int
    providers: dict[str, int]
    seconds: float
    # Of the emails checked: not ending `sent`, received by no provider, and copies beyond the
    # first that no `reclaimed` or `ambiguous` event of their email explains.
    not_sent: int = 0
    unreached: int = 0
    unexplained: int = 0
    problems: dict[str, Any] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    http: dict[str, int] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        """`CHAOS <scenario>: accepted=... final=... lost=... duplicates=... (notes) ...`."""
        notes = " ".join(f"{k}={v}" for k, v in self.notes.items())
        providers = " ".join(f"{k}={v}" for k, v in self.providers.items())
        return (
            f"CHAOS {self.scenario}: accepted={self.accepted} final={self.final} "
            f"lost={self.lost} duplicates={self.duplicates} not_sent={self.not_sent} "
            f"unreached={self.unreached} unexplained={self.unexplained} ({notes}) {providers} "
            f"http={self.http} statuses={self.statuses} seconds={self.seconds:.1f}"
        )

    def report(self, directory: Path = RESULTS_DIR) -> None:
        """Print the line and write `<directory>/<scenario>.json`."""
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"{self.scenario}.json").write_text(json.dumps(asdict(self), indent=2))
        line = self.line()
        LINES.append(line)
        print(line)

    def assert_delivered(self) -> None:
        """Every checked email ended `sent`, reached a provider, and no copy is unexplained."""
        assert self.lost == self.not_sent == self.unreached == self.unexplained == 0, (
            f"{self.line()}\n{self.problems}"
        )


def tally(
    scenario: str,
    census: Census,
    load: Load | None,
    accepted: list[str],
    received: Mapping[str, list[str]],
    started: float,
    notes: dict[str, Any] | None = None,
    *,
    expect_sent: Iterable[str] | None = None,
) -> ChaosResult:
    """Count a finished scenario: lost are accepted ids not final, duplicates from the sinks.

    `expect_sent` (default: `accepted`) are the emails `assert_delivered` holds to: each one
    `sent` and received by a provider; every copy beyond the first, of any email, must be
    explained by a `reclaimed` or `ambiguous` event of that email.
    """
    status = census.status_of(accepted)
    lost = [eid for eid in accepted if status.get(eid) not in FINAL]
    dupes = duplicates(received)
    checked = list(accepted if expect_sent is None else expect_sent)
    checked_status = census.status_of(checked)
    not_sent = {eid: checked_status.get(eid) for eid in checked}
    not_sent = {eid: status for eid, status in not_sent.items() if status != "sent"}
    reached = {eid for ids in received.values() for eid in ids}
    unreached = [eid for eid in checked if eid not in reached]
    explaining = census.events("reclaimed") + census.events("ambiguous")
    unexplained = {eid: n for eid, n in dupes.items() if n > explaining[eid]}
    return ChaosResult(
        scenario=scenario,
        accepted=len(accepted),
        final=sum(1 for eid in accepted if status.get(eid) in FINAL),
        lost=len(lost),
        duplicates=sum(dupes.values()),
        providers={name: len(ids) for name, ids in received.items()},
        seconds=time.monotonic() - started,
        not_sent=len(not_sent),
        unreached=len(unreached),
        unexplained=sum(n - explaining[eid] for eid, n in unexplained.items()),
        problems={
            k: v
            for k, v in {
                "not_sent": dict(list(not_sent.items())[:10]),
                "unreached": unreached[:10],
                "unexplained": dict(list(unexplained.items())[:10]),
            }.items()
            if v
        },
        statuses=census.counts(),
        http={str(k): v for k, v in sorted(load.statuses().items())} if load else {},
        notes=dict(notes or {}),
    )
