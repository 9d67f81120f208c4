"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22 21:06:21.865929
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),
    )
    op.create_table(
        "emails",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "scheduled",
                "queued",
                "rendered",
                "sending",
                "sent",
                "delivered",
                "bounced",
                "complained",
                "failed",
                "suppressed",
                name="emailstatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("from_addr", sa.String(length=320), nullable=False),
        sa.Column("to_addrs", sa.JSON(), nullable=False),
        sa.Column("cc_addrs", sa.JSON(), nullable=False),
        sa.Column("bcc_addrs", sa.JSON(), nullable=False),
        sa.Column("reply_to", sa.String(length=320), nullable=True),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("template_id", sa.Uuid(), nullable=True),
        sa.Column("template_version", sa.Integer(), nullable=True),
        sa.Column("lang", sa.String(length=16), nullable=True),
        sa.Column("variables", sa.JSON(), nullable=False),
        sa.Column("attachment_keys", sa.JSON(), nullable=False),
        sa.Column("attachment_manifest", sa.JSON(), nullable=True),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("brand_styles", sa.Boolean(), nullable=False),
        sa.Column("custom_style", sa.Text(), nullable=True),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=True),
        sa.Column("provider_message_id", sa.String(length=255), nullable=True),
        sa.Column("pinned_provider", sa.String(length=32), nullable=True),
        sa.Column("claim_token", sa.Uuid(), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("send_tries", sa.Integer(), nullable=False),
        sa.Column("recorded_status", sa.String(length=16), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("send_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_emails")),
    )
    with op.batch_alter_table("emails", schema=None) as batch_op:
        batch_op.create_index("ix_emails_created_at_id", ["created_at", "id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_emails_provider_message_id"), ["provider_message_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_emails_status"), ["status"], unique=False)
        batch_op.create_index(
            "ix_emails_status_enqueued_at", ["status", "enqueued_at"], unique=False
        )

    op.create_table(
        "email_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("email_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=True),
        sa.Column("provider", sa.String(length=32), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["email_id"],
            ["emails.id"],
            name=op.f("fk_email_events_email_id_emails"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_events")),
    )
    with op.batch_alter_table("email_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_email_events_email_id"), ["email_id"], unique=False)

    op.create_table(
        "email_recipients",
        sa.Column("email_id", sa.Uuid(), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("kind", sa.String(length=3), nullable=False),
        sa.ForeignKeyConstraint(
            ["email_id"],
            ["emails.id"],
            name=op.f("fk_email_recipients_email_id_emails"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("email_id", "address", "kind", name=op.f("pk_email_recipients")),
    )
    with op.batch_alter_table("email_recipients", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_email_recipients_address"), ["address"], unique=False)

    op.create_table(
        "email_tags",
        sa.Column("email_id", sa.Uuid(), nullable=False),
        sa.Column("tag", sa.String(length=128), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["email_id"],
            ["emails.id"],
            name=op.f("fk_email_tags_email_id_emails"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("email_id", "tag", name=op.f("pk_email_tags")),
    )
    with op.batch_alter_table("email_tags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_email_tags_tag"), ["tag"], unique=False)

    op.create_table(
        "send_attempts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("email_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("error_kind", sa.String(length=16), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["email_id"],
            ["emails.id"],
            name=op.f("fk_send_attempts_email_id_emails"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_send_attempts")),
    )
    with op.batch_alter_table("send_attempts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_send_attempts_email_id"), ["email_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("send_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_send_attempts_email_id"))

    op.drop_table("send_attempts")
    with op.batch_alter_table("email_tags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_email_tags_tag"))

    op.drop_table("email_tags")
    with op.batch_alter_table("email_recipients", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_email_recipients_address"))

    op.drop_table("email_recipients")
    with op.batch_alter_table("email_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_email_events_email_id"))

    op.drop_table("email_events")
    with op.batch_alter_table("emails", schema=None) as batch_op:
        batch_op.drop_index("ix_emails_status_enqueued_at")
        batch_op.drop_index(batch_op.f("ix_emails_status"))
        batch_op.drop_index(batch_op.f("ix_emails_provider_message_id"))
        batch_op.drop_index("ix_emails_created_at_id")

    op.drop_table("emails")
    op.drop_table("api_keys")
