"""emails.requeues: how often the sweeper re-published an email, to space its re-publishes

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 15:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("emails") as batch:
        batch.add_column(
            sa.Column("requeues", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )


def downgrade() -> None:
    with op.batch_alter_table("emails") as batch:
        batch.drop_column("requeues")
