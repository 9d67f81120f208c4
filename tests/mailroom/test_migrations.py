"""The migration chain runs up and down on SQLite and PostgreSQL and matches the models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from mailroom.migrate import downgrade, upgrade
from models import Base
from models.db import make_engine


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{request.getfixturevalue('tmp_path') / 'm.sqlite3'}"
    return str(request.getfixturevalue("pg_url"))


def test_upgrade_downgrade_upgrade(url: str) -> None:
    upgrade(url)
    engine = make_engine(url)
    assert {"emails", "email_events", "send_attempts", "api_keys"} <= set(
        inspect(engine).get_table_names()
    )
    downgrade(url, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(url)
    engine.dispose()


def test_models_and_migrations_agree(url: str) -> None:
    upgrade(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == [], "models changed without a migration: " + repr(diff)
