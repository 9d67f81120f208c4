"""Fixtures shared by the whole suite: an app on a migrated database, keys, services."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

# Before anything reads the settings: in-process publishes (the API under the test client) go to
# a filesystem broker in a scratch folder, and a developer's .env is not read.
os.environ.setdefault("MAILROOM_VAR_DIR", tempfile.mkdtemp(prefix="mailroom-tests-"))
os.environ["MAILROOM_ENV_FILE"] = "/dev/null"
for _name in ("DATABASE_URL", "BROKER_URL", "EMAIL_PROVIDERS", "DEFAULT_FROM"):
    os.environ.pop(_name, None)

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from api import create_app
from api.keys import create_key
from mailroom.migrate import upgrade
from models.db import make_engine, make_session_factory
from tests.support.ci_skips import pytest_runtest_makereport  # noqa: F401 - a hook: CI=true

PG_ADMIN_URL = os.environ.get("MAILROOM_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
AMQP_URL = os.environ.get("MAILROOM_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672//")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A migrated SQLite database in a temporary folder."""
    url = f"sqlite:///{tmp_path / 'mailroom.sqlite3'}"
    upgrade(url)
    return url


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A throwaway PostgreSQL database (not migrated), dropped afterwards."""
    name = f"mailroom_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    yield f"{base}/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def storage_root(tmp_path: Path) -> Path:
    """The local object storage folder; tests drop attachments into it."""
    root = tmp_path / "storage"
    root.mkdir()
    return root


@pytest.fixture
def app(sqlite_url: str, storage_root: Path) -> Flask:
    """The API on a fresh SQLite database, with local storage."""
    return create_app(
        {"TESTING": True, "DATABASE_URL": sqlite_url, "STORAGE_LOCAL_ROOT": storage_root}
    )


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of `app`."""
    return app.test_client()


@pytest.fixture
def db_session(app: Flask) -> Iterator[Session]:
    """A session on the app's database, for looking at what a request stored."""
    factory = make_session_factory(make_engine(app.config["DATABASE_URL"], sqlite_immediate=False))
    with factory() as session:
        yield session


class Keys:
    """Creates API keys on the app's database and gives their Authorization headers."""

    def __init__(self, app: Flask) -> None:
        self.sessions = make_session_factory(make_engine(app.config["DATABASE_URL"]))

    def header(self, *scopes: str, test: bool = False) -> dict[str, str]:
        """`Authorization: Bearer <new key with scopes>` (a test-mode key with `test`)."""
        with self.sessions() as session:
            _, plaintext = create_key(session, "test", scopes, test=test)
            session.commit()
        return {"Authorization": f"Bearer {plaintext}"}


@pytest.fixture
def keys(app: Flask) -> Keys:
    """Key factory for the app's database."""
    return Keys(app)
