"""Database fixtures for the store, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from mailroom.migrate import upgrade
from models.db import make_engine, make_session_factory
from store.outbox import forget_endpoints


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def sessions(request: pytest.FixtureRequest) -> Iterator[sessionmaker[Session]]:
    """A session factory on a freshly migrated database of each kind."""
    if request.param == "sqlite":
        url = f"sqlite:///{request.getfixturevalue('tmp_path') / 'store.sqlite3'}"
    else:
        url = request.getfixturevalue("pg_url")
    upgrade(url)
    engine = make_engine(url)
    # The callback endpoints are cached per process, not per database: start from this one's.
    forget_endpoints()
    yield make_session_factory(engine)
    forget_endpoints()
    engine.dispose()
