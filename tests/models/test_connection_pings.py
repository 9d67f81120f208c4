"""Pooled connections are pinged only after sitting idle, and a dead one is replaced.

The pool's idle clock is a fake one the tests move (`Clock`), so that "used again at once" and
"idle for longer than IDLE" are facts of the test, not races with a loaded machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError

import models.db
from models.db import ping_when_idle

pytestmark = pytest.mark.postgres

IDLE = 30.0


class Clock:
    """A monotonic clock that moves only when told (stands in for `time` in models.db)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The idle clock of models.db's pings."""
    fake = Clock()
    monkeypatch.setattr(models.db, "time", fake)
    return fake


@pytest.fixture
def engine(pg_url: str, clock: Clock) -> Iterator[Engine]:
    """An engine with idle-only pings after IDLE seconds, pings counted in `engine.pings`."""
    engine = create_engine(pg_url, pool_size=1, max_overflow=0)
    ping_when_idle(engine, IDLE)
    pings: list[float] = []
    real_ping = engine.dialect.do_ping

    def counted(dbapi_conn: Any) -> bool:
        pings.append(clock.monotonic())
        return real_ping(dbapi_conn)

    engine.dialect.do_ping = counted  # type: ignore[method-assign,assignment]
    engine.pings = pings  # type: ignore[attr-defined]
    yield engine
    engine.dispose()


def backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def terminate(pg_url: str, pid: int) -> None:
    """Kill one server process from outside the pool, as a server restart or a proxy would."""
    with psycopg.connect(pg_url.replace("+psycopg", ""), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_a_connection_in_use_is_not_pinged(engine: Engine, clock: Clock) -> None:
    for _ in range(5):
        backend_pid(engine)
        clock.advance(IDLE - 1)  # idle, but not for long enough
    assert engine.pings == []  # type: ignore[attr-defined]


def test_an_idle_connection_is_pinged_once_per_checkout(engine: Engine, clock: Clock) -> None:
    first = backend_pid(engine)
    clock.advance(IDLE)
    assert backend_pid(engine) == first
    assert len(engine.pings) == 1  # type: ignore[attr-defined]
    assert backend_pid(engine) == first  # used again at once: no second ping
    assert len(engine.pings) == 1  # type: ignore[attr-defined]


def test_an_idle_dead_connection_is_replaced_without_an_error(
    engine: Engine, pg_url: str, clock: Clock
) -> None:
    dead = backend_pid(engine)
    terminate(pg_url, dead)
    clock.advance(IDLE)
    replaced = backend_pid(engine)
    assert replaced != dead
    assert len(engine.pings) == 1  # type: ignore[attr-defined]


def test_a_hot_dead_connection_fails_once_then_the_pool_recovers(
    engine: Engine, pg_url: str
) -> None:
    """The price of trusting a recently used connection: one statement fails (a 503 in the API,
    a retry in a task); the failure invalidates the pool, so the next checkout reconnects."""
    dead = backend_pid(engine)
    terminate(pg_url, dead)
    with pytest.raises(OperationalError):
        backend_pid(engine)
    assert backend_pid(engine) != dead
