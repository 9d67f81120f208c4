"""Engine and session factory, built from a URL the caller passes (models read no config)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, Table, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine tuned for the backend in `url`: SQLite gets WAL and a busy timeout."""
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

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 5)
    kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("pool_timeout", 5)
    if url.startswith("postgresql"):
        # Bound every wait on a dead server so callers answer 503 instead of hanging.
        kwargs.setdefault("connect_args", {"connect_timeout": 3})
    return create_engine(url, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded values after commit, so views can answer from them."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def table_of(model: Any) -> Table:
    """A mapped class's table, typed for Core statements (which skip the ORM's bookkeeping)."""
    table: Table = model.__table__
    return table
