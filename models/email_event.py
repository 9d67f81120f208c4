"""`EmailEvent`: the history behind every status change of an email."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, utcnow

if TYPE_CHECKING:
    from models.email import Email


class EmailEvent(Base):
    """One thing that happened to an email (or to one of its recipients)."""

    __tablename__ = "email_events"

    # BIGINT on PostgreSQL; SQLite only auto-increments a plain INTEGER primary key.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    email_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("emails.id", ondelete="CASCADE"), index=True
    )
    type: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    recipient: Mapped[str | None] = mapped_column(String(320))
    provider: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[Any | None] = mapped_column(JSON)
    # The provider's own id of a webhook event, so a repeated delivery is recorded once.
    provider_event_id: Mapped[str | None] = mapped_column(String(255), unique=True)

    email: Mapped[Email] = relationship(back_populates="events")
