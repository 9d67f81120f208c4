"""Alembic migrations: the only way Mailroom's tables are created or changed."""
