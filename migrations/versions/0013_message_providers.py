"""message providers: emails.providers, an email's own provider order

Revision ID: 0013_message_providers
Revises: 0012_test_mode
Create Date: 2026-12-08 02:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_message_providers"
down_revision: str | None = "0012_test_mode"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("emails") as batch:
        batch.add_column(sa.Column("providers", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("emails") as batch:
        batch.drop_column("providers")
