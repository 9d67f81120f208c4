"""console indexes: the console's email list filtered by status, provider, template or request

Each filter is followed by the list's newest-first order, so one index range scan answers a
page whatever the table's size.

Revision ID: 0011_console_indexes
Revises: 0010_retention
Create Date: 2026-12-08 01:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011_console_indexes"
down_revision: str | None = "0010_retention"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_emails_status_created_at": ["status", "created_at", "id"],
    "ix_emails_provider_created_at": ["provider", "created_at", "id"],
    "ix_emails_template_id_created_at": ["template_id", "created_at", "id"],
    "ix_emails_correlation_id": ["correlation_id"],
}


def upgrade() -> None:
    with op.batch_alter_table("emails") as batch:
        for name, columns in INDEXES.items():
            batch.create_index(name, columns)


def downgrade() -> None:
    with op.batch_alter_table("emails") as batch:
        for name in INDEXES:
            batch.drop_index(name)
