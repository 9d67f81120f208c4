"""`EmailTag`: a free label on an email, indexed so emails can be found by tag."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base

if TYPE_CHECKING:
    from models.email import Email


class EmailTag(Base):
    """One tag of one email; `position` keeps the order the caller gave."""

    __tablename__ = "email_tags"

    email_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("emails.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(128), primary_key=True, index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)

    email: Mapped[Email] = relationship(back_populates="tag_rows")
