"""`EmailRecipient`: one address of an email, indexed so emails can be found by recipient."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base

if TYPE_CHECKING:
    from models.email import Email


class EmailRecipient(Base):
    """An address in the to, cc or bcc field of an email (`kind`), lower-cased for search."""

    __tablename__ = "email_recipients"

    email_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("emails.id", ondelete="CASCADE"), primary_key=True
    )
    address: Mapped[str] = mapped_column(String(320), primary_key=True, index=True)
    kind: Mapped[str] = mapped_column(String(3), primary_key=True)

    email: Mapped[Email] = relationship(back_populates="recipients")
