"""`SenderSignature`: the HTML and text signature appended to every email from an address."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class SenderSignature(Base):
    """A sender's signature; `address` is the bare address, lower-cased."""

    __tablename__ = "sender_signatures"

    address: Mapped[str] = mapped_column(String(320), primary_key=True)
    html: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
