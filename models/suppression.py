"""`Suppression`: an address Mailroom no longer sends to, across every provider."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, timestamp


class Suppression(Base):
    """A hard bounce, a complaint or an operator's decision; `address` is lower-cased."""

    __tablename__ = "suppressions"

    address: Mapped[str] = mapped_column(String(320), primary_key=True)
    # hard_bounce, complaint, unsubscribe or manual
    reason: Mapped[str] = mapped_column(String(32))
    # ses, sendgrid or api
    source: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)
    email_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[timestamp]
    updated_at: Mapped[datetime | None]
