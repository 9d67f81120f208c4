"""Engine and session factory, built from a URL the caller passes (models read no config)."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Engine, Table, create_engine, event, exc
from sqlalchemy.orm import Session, sessionmaker

# A pooled connection idle longer than this is pinged before use; one used more recently is
# trusted. Pinging every checkout cost a round-trip per transaction (five per email in the
# pipeline). What a hot connection risks instead: when the server restarts within this window,
# the first statement on it fails (a 503 for the API, a retry for a task) and invalidates the
# pool, as a failed ping would.
PING_IDLE_SECONDS = 1.0


def make_engine(url: str, *, sqlite_immediate: bool = True, **kwargs: Any) -> Engine:
    """An engine tuned for the backend in `url`: SQLite gets WAL and a busy timeout; a server
    database pings pooled connections idle for `PING_IDLE_SECONDS` (`pool_pre_ping=True` asks
    for SQLAlchemy's ping at every checkout instead).

    SQLite transactions begin IMMEDIATE; `sqlite_immediate=False` keeps the driver's own
    behaviour (reads outside any transaction), for an observer that must not hold the write
    lock while it looks, such as a test reading what a request stored."""
    # A statement's parameters (addresses, variables, key hashes) stay out of error messages,
    # and so out of logs and the errors stored on emails.
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        # Several processes (API, worker, beat) share one file in the embedded setup.
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        if sqlite_immediate:
            _begin_immediate(engine)
        return engine
    kwargs.setdefault("pool_size", 5)
    kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("pool_timeout", 5)
    if url.startswith("postgresql"):
        # Bound every wait on a dead server so callers answer 503 instead of hanging.
        kwargs.setdefault("connect_args", {"connect_timeout": 3})
    engine = create_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        ping_when_idle(engine, PING_IDLE_SECONDS)
    return engine


def _begin_immediate(engine: Engine) -> None:
    """SQLAlchemy's pysqlite recipe: SQLAlchemy, not the driver, begins transactions, and each
    takes the write lock at once. Writers then queue (busy timeout) instead of failing to
    upgrade a read lock midway, and what a transaction read stays as it was until it writes,
    as under a PostgreSQL row lock: the store's locking path serves both databases."""

    @event.listens_for(engine, "connect")
    def _driver_begins_nothing(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    """Ping a pooled connection at checkout only when it sat unused for `idle_seconds`; a dead
    one is replaced and the whole pool invalidated, as `pool_pre_ping` does on every checkout."""
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_conn: Any, record: Any) -> None:
        record.info["mailroom.returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        # A new connection (or one replaced after an invalidation) has no time: just connected.
        returned = record.info.get("mailroom.returned_at")
        if returned is None or time.monotonic() - returned < idle_seconds:
            return
        try:
            dialect.do_ping(dbapi_conn)
        except dialect.loaded_dbapi.Error as err:
            if dialect.is_disconnect(err, dbapi_conn, None):
                raise exc.InvalidatePoolError() from err
            raise


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded values after commit, so views can answer from them."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def table_of(model: Any) -> Table:
    """A mapped class's table, typed for Core statements (which skip the ORM's bookkeeping)."""
    table: Table = model.__table__
    return table
