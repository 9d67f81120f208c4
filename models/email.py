"""`Email`: one accepted send request, its rendered content, and where it stands."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Boolean, Enum, Index, Integer, String, Text, Uuid, false
from sqlalchemy import text as sql
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, address, enum_values, json_value, timestamp, utcnow, uuid_pk
from models.status import EmailStatus

if TYPE_CHECKING:
    from models.email_event import EmailEvent
    from models.email_recipient import EmailRecipient
    from models.email_tag import EmailTag
    from models.send_attempt import SendAttempt


class Email(Base):
    """An email from the moment the API accepts it until a final status."""

    __tablename__ = "emails"
    __table_args__ = (
        # The sweeper's query: non-final rows whose lease ran out.
        Index("ix_emails_status_enqueued_at", "status", "enqueued_at"),
        Index("ix_emails_created_at_id", "created_at", "id"),
        # The retention purge's query: the oldest emails whose content is still kept.
        Index(
            "ix_emails_content_kept",
            "created_at",
            postgresql_where=sql("content_purged_at IS NULL"),
            sqlite_where=sql("content_purged_at IS NULL"),
        ),
        # The console's list: each filter, then newest first (migration 0011_console_indexes).
        Index("ix_emails_status_created_at", "status", "created_at", "id"),
        Index("ix_emails_provider_created_at", "provider", "created_at", "id"),
        Index("ix_emails_template_id_created_at", "template_id", "created_at", "id"),
        Index("ix_emails_correlation_id", "correlation_id"),
    )

    id: Mapped[uuid_pk]
    status: Mapped[EmailStatus] = mapped_column(
        Enum(EmailStatus, native_enum=False, length=16, values_callable=enum_values),
        default=EmailStatus.QUEUED,
        index=True,
    )
    from_addr: Mapped[address]
    to_addrs: Mapped[json_value]
    cc_addrs: Mapped[json_value]
    bcc_addrs: Mapped[json_value]
    reply_to: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str | None] = mapped_column(Text)
    template_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    template_version: Mapped[int | None] = mapped_column(Integer)
    # The brand to wrap the body in (from the template), kept so an edit of the template
    # between acceptance and rendering does not change which brand applies.
    brand_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    lang: Mapped[str | None] = mapped_column(String(16))
    variables: Mapped[json_value]
    attachment_keys: Mapped[json_value]
    # Filled by fetch_attachments: [{key, filename, contentType, size}], checked and sized.
    attachment_manifest: Mapped[Any | None] = mapped_column(JSON)
    headers: Mapped[json_value]
    brand_styles: Mapped[bool] = mapped_column(Boolean, default=False)
    custom_style: Mapped[str | None] = mapped_column(Text)
    # The sender's signature as it was at acceptance (None: none, or the request turned it off),
    # so the worker needs no lookup and a later edit does not change emails already queued.
    signature_html: Mapped[str | None] = mapped_column(Text)
    signature_text: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(255))
    # The id of the request that created the email, carried into every task's log lines.
    correlation_id: Mapped[str | None] = mapped_column(String(64))
    # Sent by a test-mode key: the send step hands it to the sandbox provider, never a real one.
    is_test: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Open and click tracking as the send asked; None: the deployment's default.
    track_opens: Mapped[bool | None] = mapped_column(Boolean)
    track_clicks: Mapped[bool | None] = mapped_column(Boolean)
    provider: Mapped[str | None] = mapped_column(String(32))
    provider_message_id: Mapped[str | None] = mapped_column(String(255), index=True)
    # After an ambiguous timeout only this provider may be tried again.
    pinned_provider: Mapped[str | None] = mapped_column(String(32))
    # The caller's own provider order for this email (`"providers"` on a send); None: the
    # configured one. Failover stays within it.
    providers: Mapped[list[str] | None] = mapped_column(JSON)
    claim_token: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    claimed_at: Mapped[datetime | None]
    send_tries: Mapped[int] = mapped_column(Integer, default=0)
    # How often the sweeper re-published the email: spaces its next re-publish further out.
    requeues: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The final status whose outcome record_status has written, so it runs once per status.
    recorded_status: Mapped[str | None] = mapped_column(String(16))
    last_error: Mapped[str | None] = mapped_column(Text)
    send_at: Mapped[datetime | None]
    # When the pipeline was last published for this email, or is next due to run (a retry's
    # countdown); the sweeper re-publishes rows for which this lies a lease in the past.
    enqueued_at: Mapped[datetime | None]
    created_at: Mapped[timestamp]
    # When the retention purge cleared the content (bodies, variables, attachment manifest).
    content_purged_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    events: Mapped[list[EmailEvent]] = relationship(
        back_populates="email", order_by="EmailEvent.id", cascade="all, delete-orphan"
    )
    attempts: Mapped[list[SendAttempt]] = relationship(
        back_populates="email", order_by="SendAttempt.id", cascade="all, delete-orphan"
    )
    recipients: Mapped[list[EmailRecipient]] = relationship(
        back_populates="email", cascade="all, delete-orphan"
    )
    tag_rows: Mapped[list[EmailTag]] = relationship(
        back_populates="email", cascade="all, delete-orphan", order_by="EmailTag.position"
    )

    @property
    def tags(self) -> list[str]:
        """The email's labels, in the order given."""
        return [row.tag for row in self.tag_rows]
