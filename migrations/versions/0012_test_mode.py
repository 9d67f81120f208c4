"""test mode: api_keys.is_test, emails.is_test, and sandbox_messages for what the `test`
provider accepted

Revision ID: 0012_test_mode
Revises: 0011_console_indexes
Create Date: 2026-12-08 01:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_test_mode"
down_revision: str | None = "0011_console_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("api_keys", "emails"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("is_test", sa.Boolean(), nullable=False, server_default=sa.false())
            )
    op.create_table(
        "sandbox_messages",
        sa.Column("email_id", sa.Uuid(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("provider_message_id", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["email_id"],
            ["emails.id"],
            name=op.f("fk_sandbox_messages_email_id_emails"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("email_id", name=op.f("pk_sandbox_messages")),
    )


def downgrade() -> None:
    op.drop_table("sandbox_messages")
    for table in ("emails", "api_keys"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("is_test")
