"""Database fixtures for the task layer: the store's, on SQLite and PostgreSQL."""

from __future__ import annotations

from tests.store.conftest import sessions as sessions
