"""retention: emails.content_purged_at, and the indexes the purge walks oldest first

Revision ID: 0010_retention
Revises: 0009
Create Date: 2026-12-08 01:10:00
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext

import sqlalchemy as sa
from alembic import op

revision: str = "0010_retention"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEPT = sa.text("content_purged_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("emails") as batch:
        batch.add_column(sa.Column("content_purged_at", sa.DateTime(timezone=True), nullable=True))
    postgres = op.get_bind().dialect.name == "postgresql"
    # On PostgreSQL the indexes are built CONCURRENTLY (outside a transaction), so a large
    # emails table keeps taking writes while they build.
    with op.get_context().autocommit_block() if postgres else nullcontext():
        op.create_index(
            "ix_emails_content_kept",
            "emails",
            ["created_at"],
            postgresql_where=_KEPT,
            sqlite_where=_KEPT,
            postgresql_concurrently=postgres,
        )
        op.create_index(
            "ix_idempotency_keys_created_at",
            "idempotency_keys",
            ["created_at"],
            postgresql_concurrently=postgres,
        )


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_created_at", table_name="idempotency_keys")
    op.drop_index("ix_emails_content_kept", table_name="emails")
    with op.batch_alter_table("emails") as batch:
        batch.drop_column("content_purged_at")
