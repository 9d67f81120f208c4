"""tracking: emails.track_opens and emails.track_clicks (None: the deployment's default)

Revision ID: 0014_tracking
Revises: 0013_message_providers
Create Date: 2026-12-08 02:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_tracking"
down_revision: str | None = "0013_message_providers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("emails") as batch:
        batch.add_column(sa.Column("track_opens", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("track_clicks", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("emails") as batch:
        batch.drop_column("track_clicks")
        batch.drop_column("track_opens")
