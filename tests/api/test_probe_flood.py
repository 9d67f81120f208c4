"""A flood of `/ready` and `/metrics` requests costs the database and the broker about one
check per PROBE_CACHE_SECONDS, however many requests and threads there are."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event

from api import create_app
from tasks.app import celery_app

THREADS = 8
EACH = 40


class Counts:
    """Database statements and broker connections the app made."""

    def __init__(self) -> None:
        self.queries = 0
        self.broker = 0
        self._lock = threading.Lock()

    def query(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith(("PRAGMA", "BEGIN")):
            return  # SQLite's set-up of a connection or a transaction
        with self._lock:
            self.queries += 1

    def connect(self) -> None:
        with self._lock:
            self.broker += 1


def make_app(sqlite_url: str, storage_root: Path, ttl: float) -> Flask:
    return create_app(
        {
            "TESTING": True,
            "DATABASE_URL": sqlite_url,
            "STORAGE_LOCAL_ROOT": storage_root,
            "PROBE_CACHE_SECONDS": ttl,
        }
    )


@pytest.fixture
def counts(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counts]:
    """Counts every broker connection the app opens (the real ones, still made)."""
    seen = Counts()
    real = celery_app.connection_for_write

    def counted(*args: Any, **kwargs: Any) -> Any:
        seen.connect()
        return real(*args, **kwargs)

    monkeypatch.setattr(celery_app, "connection_for_write", counted)
    yield seen


def flood(app: Flask, path: str) -> list[int]:
    """THREADS threads each GET `path` EACH times at once; every status code."""
    codes: list[int] = []
    start = threading.Barrier(THREADS)

    def run() -> None:
        client = app.test_client()
        start.wait()
        got = [client.get(path).status_code for _ in range(EACH)]
        codes.extend(got)

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return codes


@pytest.mark.parametrize("path", ["/ready", "/metrics"])
def test_a_flood_makes_one_check(
    path: str, sqlite_url: str, storage_root: Path, counts: Counts
) -> None:
    app = make_app(sqlite_url, storage_root, ttl=60.0)
    event.listen(app.extensions["mailroom.engine"], "before_cursor_execute", counts.query)

    codes = flood(app, path)

    assert codes == [200] * THREADS * EACH
    assert counts.broker == 1
    # /ready: SELECT 1; /metrics: the in-flight counts and the circuits.
    assert counts.queries == (1 if path == "/ready" else 2)


@pytest.mark.parametrize("path", ["/ready", "/metrics"])
def test_the_check_runs_again_once_its_answer_is_old(
    path: str, sqlite_url: str, storage_root: Path, counts: Counts
) -> None:
    app = make_app(sqlite_url, storage_root, ttl=0.3)
    client = app.test_client()
    for _ in range(20):
        assert client.get(path).status_code == 200
    assert counts.broker == 1
    time.sleep(0.4)
    assert client.get(path).status_code == 200
    assert counts.broker == 2
