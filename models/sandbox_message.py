"""`SandboxMessage`: the raw message a test-mode email was "sent" as, kept for reading back."""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, timestamp


class SandboxMessage(Base):
    """What the `test` provider accepted for one email: the bytes SMTP would have carried.

    Kept apart from `emails` so the pipeline's reads of an email never carry the message along,
    and deleted with its email.
    """

    __tablename__ = "sandbox_messages"

    email_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("emails.id", ondelete="CASCADE"), primary_key=True
    )
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    provider_message_id: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[timestamp]
