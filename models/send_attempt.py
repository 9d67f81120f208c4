"""`SendAttempt`: one try of one provider for one email, kept whatever its outcome."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, utcnow

if TYPE_CHECKING:
    from models.email import Email


class SendAttempt(Base):
    """A provider's answer to one send: `accepted` or `failed` with the reason and its kind."""

    __tablename__ = "send_attempts"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    email_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("emails.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(16))
    # transient, configuration, rejected or ambiguous; None when accepted.
    error_kind: Mapped[str | None] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    duration_ms: Mapped[float | None] = mapped_column(Float)

    email: Mapped[Email] = relationship(back_populates="attempts")
